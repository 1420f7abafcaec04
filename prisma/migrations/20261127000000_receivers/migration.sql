-- A receiver's own tables (DESIGN.md section 5): how far it has followed the chain, the shares it has
-- opened, and the reports whose share failed to open. A receiver runs on its own database.

-- CreateTable
CREATE TABLE "receiver_checkpoints" (
    "receiver_id" TEXT NOT NULL,
    "height" BIGINT NOT NULL,
    "block_hash" BYTEA NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "receiver_checkpoints_pkey" PRIMARY KEY ("receiver_id")
);

-- CreateTable
CREATE TABLE "receiver_readings" (
    "receiver_id" TEXT NOT NULL,
    "report_id" BYTEA NOT NULL,
    "meter_id" TEXT NOT NULL,
    "nonce" DECIMAL(20,0) NOT NULL,
    "read_at" TIMESTAMPTZ(3) NOT NULL,
    "height" BIGINT NOT NULL,
    "position" INTEGER NOT NULL,
    "dimensions" JSONB NOT NULL,

    CONSTRAINT "receiver_readings_pkey" PRIMARY KEY ("receiver_id","report_id")
);

-- CreateTable
CREATE TABLE "receiver_tampered" (
    "receiver_id" TEXT NOT NULL,
    "report_id" BYTEA NOT NULL,
    "meter_id" TEXT NOT NULL,
    "nonce" DECIMAL(20,0) NOT NULL,
    "height" BIGINT NOT NULL,
    "position" INTEGER NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "flagged_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "receiver_tampered_pkey" PRIMARY KEY ("receiver_id","report_id")
);

-- CreateIndex
CREATE INDEX "receiver_readings_receiver_id_meter_id_read_at_idx" ON "receiver_readings"("receiver_id", "meter_id", "read_at");
