-- The stake-elected set of each round, before exclusions for missed slots (RoundSchedule.base):
-- certificates need most of it. Rows from before this column read it as the elected set.
ALTER TABLE "round_schedules" ADD COLUMN "base" TEXT[] DEFAULT ARRAY[]::TEXT[];
