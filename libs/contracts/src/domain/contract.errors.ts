import { DomainError } from '@app/kernel';

/** A contract refused at load, an input refused at evaluation, or an evaluation that failed; `code` says which. */
export class ContractError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}

export const ContractErrors = {
  /** The document is not a valid contract: shape, unknown operator, unknown input, limits. */
  invalid: (problems: string[]) =>
    new ContractError('CONTRACT.INVALID', `invalid contract: ${problems.join('; ')}`, { problems }),
  /** The input document does not match the contract's declared inputs. */
  badInput: (contractId: string, problems: string[]) =>
    new ContractError('CONTRACT.BAD_INPUT', `input for contract ${contractId}: ${problems.join('; ')}`, {
      contractId,
      problems,
    }),
  /** The expression could not be evaluated on this input (a division by zero, a non-boolean condition). */
  evaluationFailed: (contractId: string, where: string, reason: string) =>
    new ContractError('CONTRACT.EVALUATION_FAILED', `contract ${contractId}, ${where}: ${reason}`, {
      contractId,
      where,
      reason,
    }),
};
