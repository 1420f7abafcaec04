-- A grid operator's own data for its feedback contract (Algorithm 1), and the results of its
-- contracts with the transaction that put each on the chain.

-- CreateTable
CREATE TABLE "operator_accounts" (
    "meter_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "prepaid" BOOLEAN NOT NULL,
    "prepaid_balance" DOUBLE PRECISION NOT NULL,
    "prepaid_low_level" DOUBLE PRECISION NOT NULL,
    "arrears" DOUBLE PRECISION NOT NULL,
    "arrears_level" DOUBLE PRECISION NOT NULL,
    "serious_arrears_level" DOUBLE PRECISION NOT NULL,
    "threshold_value" DOUBLE PRECISION NOT NULL,
    "latest_price" DOUBLE PRECISION NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "operator_accounts_pkey" PRIMARY KEY ("meter_id")
);

-- CreateTable
CREATE TABLE "contract_results" (
    "receiver_id" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "meter_id" TEXT NOT NULL,
    "contract_id" TEXT NOT NULL,
    "contract_version" INTEGER NOT NULL,
    "input" JSONB NOT NULL,
    "result_hash" TEXT NOT NULL,
    "actions" JSONB NOT NULL,
    "tx_hash" BYTEA,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "contract_results_pkey" PRIMARY KEY ("receiver_id","trigger")
);

-- CreateIndex
CREATE INDEX "contract_results_receiver_id_meter_id_idx" ON "contract_results"("receiver_id", "meter_id");
