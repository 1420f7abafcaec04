-- Contracts deployed on the chain (contract.deploy): each version of each contract, as deployed.

-- CreateTable
CREATE TABLE "registry_contracts" (
    "id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "owner" TEXT NOT NULL,
    "receiver_id" TEXT NOT NULL,
    "document" JSONB NOT NULL,
    "hash" TEXT NOT NULL,
    "tx" BYTEA NOT NULL,
    "deployed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_contracts_pkey" PRIMARY KEY ("id","version")
);
