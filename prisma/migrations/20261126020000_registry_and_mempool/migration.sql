-- CreateTable
CREATE TABLE "registry_organisations" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "roles" TEXT[],
    "public_key" BYTEA NOT NULL,
    "stake" BIGINT NOT NULL,
    "admitted_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_organisations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "registry_meters" (
    "id" TEXT NOT NULL,
    "registrar" TEXT NOT NULL,
    "public_key" BYTEA NOT NULL,
    "alpha" BYTEA,
    "verification_key" BYTEA,
    "dimensions" TEXT[],
    "policy" JSONB NOT NULL,
    "epoch" JSONB NOT NULL,
    "owner" JSONB NOT NULL,
    "location" TEXT,
    "status" TEXT NOT NULL,
    "registered_tx" BYTEA NOT NULL,
    "activated_tx" BYTEA,
    "revoked_tx" BYTEA,
    "revoked_reason" TEXT,
    "registered_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_meters_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "registry_receivers" (
    "id" TEXT NOT NULL,
    "organisation" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "public_key" BYTEA NOT NULL,
    "alpha" BYTEA,
    "encryption_key" BYTEA NOT NULL,
    "status" TEXT NOT NULL,
    "registered_tx" BYTEA NOT NULL,
    "activated_tx" BYTEA,
    "revoked_tx" BYTEA,
    "revoked_reason" TEXT,
    "registered_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_receivers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "registry_delegates" (
    "id" TEXT NOT NULL,
    "organisation" TEXT NOT NULL,
    "public_key" BYTEA NOT NULL,
    "status" TEXT NOT NULL,
    "registered_tx" BYTEA,
    "revoked_tx" BYTEA,
    "revoked_reason" TEXT,
    "registered_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_delegates_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mempool_transactions" (
    "hash" BYTEA NOT NULL,
    "kind" TEXT NOT NULL,
    "sender" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "mempool_transactions_pkey" PRIMARY KEY ("hash")
);

-- CreateTable
CREATE TABLE "mempool_reports" (
    "id" BYTEA NOT NULL,
    "meter_id" TEXT NOT NULL,
    "nonce" DECIMAL(20,0) NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "bytes" BYTEA NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "mempool_reports_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "report_nonces" (
    "meter_id" TEXT NOT NULL,
    "nonce" DECIMAL(20,0) NOT NULL,
    "report_id" BYTEA NOT NULL,

    CONSTRAINT "report_nonces_pkey" PRIMARY KEY ("meter_id","nonce")
);

-- CreateIndex
CREATE INDEX "registry_meters_status_idx" ON "registry_meters"("status");

-- CreateIndex
CREATE INDEX "mempool_transactions_received_at_idx" ON "mempool_transactions"("received_at");

-- CreateIndex
CREATE INDEX "mempool_reports_received_at_idx" ON "mempool_reports"("received_at");

-- The replay record is append-only, like the journal.
CREATE TRIGGER "report_nonces_append_only"
    BEFORE UPDATE OR DELETE ON "report_nonces"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();

-- CreateTable
CREATE TABLE "chain_genesis" (
    "hash" BYTEA NOT NULL,
    "chain_id" TEXT NOT NULL,
    "document" JSONB NOT NULL,
    "loaded_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "chain_genesis_pkey" PRIMARY KEY ("hash")
);
