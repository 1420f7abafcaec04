-- A receiver as an outside witness of the chain (issue 5): the hash of every block it has processed,
-- and the head digests the nodes signed. A node that later serves another history contradicts its own
-- signature, kept here. Both tables are append-only.

-- CreateTable
CREATE TABLE "receiver_blocks" (
    "receiver_id" TEXT NOT NULL,
    "height" BIGINT NOT NULL,
    "block_hash" BYTEA NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "receiver_blocks_pkey" PRIMARY KEY ("receiver_id","height")
);

-- CreateTable
CREATE TABLE "receiver_head_digests" (
    "receiver_id" TEXT NOT NULL,
    "node_id" TEXT NOT NULL,
    "final_height" BIGINT NOT NULL,
    "final_hash" BYTEA NOT NULL,
    "head_height" BIGINT NOT NULL,
    "head_hash" BYTEA NOT NULL,
    "signed_at" TIMESTAMPTZ(3) NOT NULL,
    "signature" BYTEA NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "receiver_head_digests_pkey" PRIMARY KEY ("receiver_id","node_id","final_height","final_hash")
);

-- CreateIndex
CREATE INDEX "receiver_head_digests_receiver_id_final_height_idx" ON "receiver_head_digests"("receiver_id", "final_height");

-- Receivers that ran before: their checkpoint is the first block they remember.
INSERT INTO "receiver_blocks" ("receiver_id", "height", "block_hash", "processed_at")
    SELECT "receiver_id", "height", "block_hash", "updated_at" FROM "receiver_checkpoints";

CREATE TRIGGER "receiver_blocks_append_only" BEFORE UPDATE OR DELETE ON "receiver_blocks"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "receiver_blocks_no_truncate" BEFORE TRUNCATE ON "receiver_blocks"
    FOR EACH STATEMENT EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "receiver_head_digests_append_only" BEFORE UPDATE OR DELETE ON "receiver_head_digests"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();
CREATE TRIGGER "receiver_head_digests_no_truncate" BEFORE TRUNCATE ON "receiver_head_digests"
    FOR EACH STATEMENT EXECUTE FUNCTION "cbsg_refuse_change"();
