-- A contract id is its owner's name, not the whole consortium's: two grid operators each deploy their
-- own `grid-operator/feedback`, and a meter's owner names its device contract as it likes. Each
-- owner's versions of an id rise on their own. The key's order serves both reads: one owner's latest
-- version of an id, and the listing by id.
ALTER TABLE "registry_contracts" DROP CONSTRAINT "registry_contracts_pkey";
ALTER TABLE "registry_contracts" ADD CONSTRAINT "registry_contracts_pkey" PRIMARY KEY ("id", "owner", "version");
