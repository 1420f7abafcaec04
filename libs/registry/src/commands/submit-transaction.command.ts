import { Command } from '@nestjs/cqrs';

import type { Transaction } from '@app/ledger';

export interface TransactionReceipt {
  hash: string;
  kind: string;
  /** pending: in this node's mempool, waiting for a block. */
  status: 'pending';
  /** True when this exact transaction had been accepted before (the submission is idempotent). */
  duplicate: boolean;
}

/** Accept a signed registry transaction into the mempool, after every rule has been checked. */
export class SubmitTransactionCommand extends Command<TransactionReceipt> {
  constructor(readonly transaction: Transaction) {
    super();
  }
}
