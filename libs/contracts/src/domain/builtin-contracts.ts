import { ContractErrors } from './contract.errors';
import { type ContractDocument, type ContractScope, contractSchema } from './contract.schema';
import gridOperatorFeedbackV1 from './builtin/grid-operator-feedback.v1.json';
import waterHeaterExample from './builtin/water-heater.example.json';

/**
 * Contract documents shipped with the code. They are data like any deployed contract: an
 * organisation deploys one under its own identity (instantiateContract), and from then on the
 * chain's copy is the one that counts.
 */

/** Algorithm 1 of the paper: the grid operator's per-meter feedback contract (consumption and cost). */
export const GRID_OPERATOR_FEEDBACK_CONTRACT: ContractDocument = parseBuiltin(gridOperatorFeedbackV1);

/** A meter owner's device contract (paper III.F): a water heater that follows the price. */
export const WATER_HEATER_CONTRACT_EXAMPLE: ContractDocument = parseBuiltin(waterHeaterExample);

/** Every document shipped with the code. */
export const SHIPPED_CONTRACTS: readonly ContractDocument[] = [
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  WATER_HEATER_CONTRACT_EXAMPLE,
];

/**
 * The version of the document shipped under `id`, if one is. A receiver runs a shipped contract under
 * its own id and version until its organisation deploys one (Algorithm 1), so a deployment of that id
 * must come above the shipped version: otherwise (id, version) would name two documents.
 */
export function shippedContractVersion(id: string): number | undefined {
  return SHIPPED_CONTRACTS.find((c) => c.id === id)?.version;
}

/** A copy of a shipped document under the deployer's identity, scope and version. */
export function instantiateContract(
  template: ContractDocument,
  deployment: { owner: string; appliesTo?: ContractScope; version?: number; id?: string },
): ContractDocument {
  const parsed = contractSchema.safeParse({
    ...template,
    owner: deployment.owner,
    id: deployment.id ?? template.id,
    version: deployment.version ?? template.version,
    appliesTo: deployment.appliesTo ?? template.appliesTo,
  });
  if (!parsed.success) {
    throw ContractErrors.invalid(
      parsed.error.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`),
    );
  }
  return parsed.data;
}

function parseBuiltin(document: unknown): ContractDocument {
  const parsed = contractSchema.safeParse(document);
  if (!parsed.success) {
    // A shipped document that does not parse is a build defect: fail at import, in every test.
    throw ContractErrors.invalid(parsed.error.issues.map((issue) => issue.message));
  }
  return parsed.data;
}
