-- A receiver's own settings (for example the control center's key-user list and rules), as JSON
-- validated by the receiver before it is stored, with a version raised on every change.

-- CreateTable
CREATE TABLE "receiver_settings" (
    "receiver_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "value" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "receiver_settings_pkey" PRIMARY KEY ("receiver_id","name")
);
