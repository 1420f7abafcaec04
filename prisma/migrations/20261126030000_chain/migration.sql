-- CreateTable
CREATE TABLE "blocks" (
    "height" BIGINT NOT NULL,
    "hash" BYTEA NOT NULL,
    "previous_hash" BYTEA NOT NULL,
    "slot" BIGINT NOT NULL,
    "round" BIGINT NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "producer" TEXT NOT NULL,
    "transactions_root" BYTEA NOT NULL,
    "receiver_index_root" BYTEA NOT NULL,
    "transaction_count" INTEGER NOT NULL,
    "header" BYTEA NOT NULL,
    "signature" BYTEA NOT NULL,
    "finalized_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "blocks_pkey" PRIMARY KEY ("height")
);

-- CreateTable
CREATE TABLE "block_transactions" (
    "height" BIGINT NOT NULL,
    "position" INTEGER NOT NULL,
    "hash" BYTEA NOT NULL,
    "kind" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "meter_id" TEXT,
    "nonce" DECIMAL(20,0),
    "receivers" TEXT[],

    CONSTRAINT "block_transactions_pkey" PRIMARY KEY ("height","position")
);

-- CreateTable
CREATE TABLE "block_shares" (
    "receiver_id" TEXT NOT NULL,
    "height" BIGINT NOT NULL,
    "position" INTEGER NOT NULL,

    CONSTRAINT "block_shares_pkey" PRIMARY KEY ("receiver_id","height","position")
);

-- CreateTable
CREATE TABLE "block_certificates" (
    "height" BIGINT NOT NULL,
    "block_hash" BYTEA NOT NULL,
    "certificate" BYTEA NOT NULL,

    CONSTRAINT "block_certificates_pkey" PRIMARY KEY ("height")
);

-- CreateTable
CREATE TABLE "candidate_blocks" (
    "hash" BYTEA NOT NULL,
    "height" BIGINT NOT NULL,
    "parent_hash" BYTEA NOT NULL,
    "slot" BIGINT NOT NULL,
    "producer" TEXT NOT NULL,
    "header" BYTEA NOT NULL,
    "signature" BYTEA NOT NULL,
    "body" BYTEA NOT NULL,
    "certificate" BYTEA,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "candidate_blocks_pkey" PRIMARY KEY ("hash")
);

-- CreateTable
CREATE TABLE "round_schedules" (
    "round" BIGINT NOT NULL,
    "elected" TEXT[],
    "slots" TEXT[],
    "seed" BYTEA NOT NULL,

    CONSTRAINT "round_schedules_pkey" PRIMARY KEY ("round")
);

-- CreateTable
CREATE TABLE "missed_slots" (
    "slot" BIGINT NOT NULL,
    "round" BIGINT NOT NULL,
    "delegate" TEXT NOT NULL,

    CONSTRAINT "missed_slots_pkey" PRIMARY KEY ("slot")
);

-- CreateTable
CREATE TABLE "votes_cast" (
    "height" BIGINT NOT NULL,
    "delegate" TEXT NOT NULL,
    "block_hash" BYTEA NOT NULL,

    CONSTRAINT "votes_cast_pkey" PRIMARY KEY ("height","delegate")
);

-- CreateTable
CREATE TABLE "registry_ballots" (
    "organisation" TEXT NOT NULL,
    "approves" TEXT[],
    "tx" BYTEA NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_ballots_pkey" PRIMARY KEY ("organisation")
);

-- CreateIndex
CREATE UNIQUE INDEX "blocks_hash_key" ON "blocks"("hash");

-- CreateIndex
CREATE UNIQUE INDEX "blocks_slot_key" ON "blocks"("slot");

-- CreateIndex
CREATE INDEX "blocks_producer_idx" ON "blocks"("producer");

-- CreateIndex
CREATE UNIQUE INDEX "block_transactions_hash_key" ON "block_transactions"("hash");

-- CreateIndex
CREATE UNIQUE INDEX "block_transactions_meter_id_nonce_key" ON "block_transactions"("meter_id", "nonce");

-- CreateIndex
CREATE INDEX "block_transactions_kind_height_idx" ON "block_transactions"("kind", "height");

-- CreateIndex
CREATE INDEX "candidate_blocks_height_idx" ON "candidate_blocks"("height");

-- CreateIndex
CREATE INDEX "missed_slots_delegate_idx" ON "missed_slots"("delegate");

-- The final chain is append-only for the application: an edit or a deletion needs the owner to lift
-- these triggers, and verify-chain then names the first block that does not hold.
CREATE TRIGGER "blocks_append_only" BEFORE UPDATE OR DELETE ON "blocks"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "blocks_no_truncate" BEFORE TRUNCATE ON "blocks"
    FOR EACH STATEMENT EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "block_transactions_append_only" BEFORE UPDATE OR DELETE ON "block_transactions"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "block_transactions_no_truncate" BEFORE TRUNCATE ON "block_transactions"
    FOR EACH STATEMENT EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "block_shares_append_only" BEFORE UPDATE OR DELETE ON "block_shares"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "block_certificates_append_only" BEFORE UPDATE OR DELETE ON "block_certificates"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "round_schedules_append_only" BEFORE UPDATE OR DELETE ON "round_schedules"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "missed_slots_append_only" BEFORE UPDATE OR DELETE ON "missed_slots"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();

-- The replay record follows the chain: when a final block carries a (meter, nonce) that this node
-- had recorded for another report, the chain wins and the record is corrected.
DROP TRIGGER "report_nonces_append_only" ON "report_nonces";
