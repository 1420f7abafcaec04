-- Commands for meters from a receiver's contracts (power-saving mode, forced trip, re-upload): the
-- meter fetches them, signed as itself, and acknowledges each; an acknowledged command stays.

-- CreateTable
CREATE TABLE "meter_commands" (
    "receiver_id" TEXT NOT NULL,
    "command_id" TEXT NOT NULL,
    "meter_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "acked_at" TIMESTAMPTZ(3),

    CONSTRAINT "meter_commands_pkey" PRIMARY KEY ("receiver_id","command_id")
);

-- CreateIndex
CREATE INDEX "meter_commands_receiver_id_meter_id_acked_at_idx" ON "meter_commands"("receiver_id", "meter_id", "acked_at");
