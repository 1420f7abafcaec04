-- CreateTable
CREATE TABLE "journal_type_stats" (
    "type" TEXT NOT NULL,
    "events" BIGINT NOT NULL,
    "last_position" BIGINT NOT NULL,
    "last_occurred_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "journal_type_stats_pkey" PRIMARY KEY ("type")
);
