-- A receiver's scheduled publications, one per subject and period: the signed receiver.publication
-- transaction is stored before it is sent, so that a retry of the period (a lost answer, a stalled
-- job) sends the very same bytes, which a node answers as a duplicate, and the period is on the
-- chain once.
CREATE TABLE "receiver_publications" (
    "receiver_id" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "period_end" BIGINT NOT NULL,
    "tx_hash" BYTEA NOT NULL,
    "tx" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "accepted_at" TIMESTAMPTZ(3),

    CONSTRAINT "receiver_publications_pkey" PRIMARY KEY ("receiver_id","subject","period_end")
);
