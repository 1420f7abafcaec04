-- A receiver publishes its contract results in batches, one contract.result transaction each. The
-- signed transaction is stored before it is sent, so that a retry sends the very same bytes.
CREATE TABLE "contract_result_batches" (
    "receiver_id" TEXT NOT NULL,
    "tx_hash" BYTEA NOT NULL,
    "tx" BYTEA NOT NULL,
    "results" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "accepted_at" TIMESTAMPTZ(3),

    CONSTRAINT "contract_result_batches_pkey" PRIMARY KEY ("receiver_id","tx_hash")
);

-- The batches a node has not accepted yet, oldest first.
CREATE INDEX "contract_result_batches_receiver_id_accepted_at_created_at_idx" ON "contract_result_batches"("receiver_id", "accepted_at", "created_at");

-- The results no batch holds yet.
CREATE INDEX "contract_results_receiver_id_tx_hash_created_at_idx" ON "contract_results"("receiver_id", "tx_hash", "created_at");
