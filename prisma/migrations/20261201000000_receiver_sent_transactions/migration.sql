-- A receiver keeps each transaction it signed until it sees it in a final block, not only until a
-- node accepts it: a node drops what no block took within its accept window (a stalled consortium),
-- and the receiver then sends it again. Once final and older than the retention, a row is pruned.

-- sends_in_doubt: attempts that may have reached a node (all but those refused with a 4xx or that
-- found no server). While any may have, the transaction may be in some node's mempool or block, and
-- is signed again only once the chain has passed its entry window. Rows written before this
-- migration may have been sent: 1; new rows start at 0.
ALTER TABLE "contract_result_batches" ADD COLUMN "sends_in_doubt" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "contract_result_batches" ALTER COLUMN "sends_in_doubt" SET DEFAULT 0;
ALTER TABLE "contract_result_batches" ADD COLUMN "final_height" BIGINT;
ALTER TABLE "contract_result_batches" ADD COLUMN "final_at" TIMESTAMPTZ(3);

ALTER TABLE "receiver_publications" ADD COLUMN "sends_in_doubt" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "receiver_publications" ALTER COLUMN "sends_in_doubt" SET DEFAULT 0;
ALTER TABLE "receiver_publications" ADD COLUMN "final_height" BIGINT;
ALTER TABLE "receiver_publications" ADD COLUMN "final_at" TIMESTAMPTZ(3);

-- What is not final yet is looked up on the node; what is final and old is pruned.
CREATE INDEX "contract_result_batches_receiver_id_final_at_idx" ON "contract_result_batches"("receiver_id", "final_at");
CREATE INDEX "receiver_publications_receiver_id_final_at_idx" ON "receiver_publications"("receiver_id", "final_at");
-- A publication is found by its transaction's hash when it is sent, signed again or found final.
CREATE INDEX "receiver_publications_receiver_id_tx_hash_idx" ON "receiver_publications"("receiver_id", "tx_hash");

-- The timestamp of the checkpoint's block, from the header the follower checked: the chain's time
-- as this receiver knows it (null until the next block after this migration).
ALTER TABLE "receiver_checkpoints" ADD COLUMN "block_time" TIMESTAMPTZ(3);
