import { Field, Int, ObjectType } from '@nestjs/graphql';

/** Heights, slots and rounds are 64-bit: strings in GraphQL, as in the REST API. */
@ObjectType('Block', { description: 'A final (irreversible) block.' })
export class BlockModel {
  @Field() height!: string;
  @Field() hash!: string;
  @Field() previousHash!: string;
  @Field() slot!: string;
  @Field() round!: string;
  @Field() producer!: string;
  @Field() timestamp!: Date;
  @Field(() => Int) transactionCount!: number;
  @Field() finalizedAt!: Date;
}

@ObjectType('Transaction', { description: 'An entry of a final block: a report or a signed transaction.' })
export class TransactionModel {
  @Field() hash!: string;
  @Field({ description: 'report, meter.register, contract.result, ...' }) kind!: string;
  @Field() height!: string;
  @Field(() => Int) position!: number;
  @Field(() => String, { nullable: true }) meterId!: string | null;
  @Field(() => [String], { description: 'Receivers that hold a share of a report.' }) receivers!: string[];
}

@ObjectType('BlockPage', {
  description: 'Final blocks, newest first; pass endCursor as `before` for the next page.',
})
export class BlockPage {
  @Field(() => [BlockModel]) nodes!: BlockModel[];
  @Field(() => String, { nullable: true }) endCursor!: string | null;
  @Field() hasMore!: boolean;
}

@ObjectType('ChainStatus')
export class ChainStatusModel {
  @Field() chainId!: string;
  @Field() nodeId!: string;
  @Field() headHeight!: string;
  @Field() finalHeight!: string;
  @Field() currentSlot!: string;
  @Field() currentRound!: string;
}

@ObjectType('Delegate')
export class DelegateModel {
  @Field() id!: string;
  @Field() organisation!: string;
  @Field() status!: string;
  @Field({ description: 'Stake of the organisations that approve it.' }) votes!: string;
}

@ObjectType('MissedSlot')
export class MissedSlotModel {
  @Field() slot!: string;
  @Field() round!: string;
  @Field() delegate!: string;
}

@ObjectType('BlockEvent', { description: 'A block that just became valid here (added) or final.' })
export class BlockEventModel {
  @Field() height!: string;
  @Field() hash!: string;
  @Field() slot!: string;
  @Field() producer!: string;
  @Field(() => Int) transactionCount!: number;
}

@ObjectType('Alarm', {
  description:
    'What a receiver put on the chain that people must act on: a contract result (tamper alarm, power-saving mode, forced trip, payment notice) or a publication with findings (theft suspects, device faults).',
})
export class AlarmModel {
  @Field() height!: string;
  @Field(() => Int) position!: number;
  @Field() transaction!: string;
  @Field({ description: 'contract.result or receiver.publication' }) source!: string;
  @Field({ description: 'The action (forced-trip, re-upload-alarm, ...) or the publication subject.' })
  type!: string;
  @Field({ description: 'critical, warning or notice' }) severity!: string;
  @Field() receiverId!: string;
  @Field() organisation!: string;
  @Field(() => String, { nullable: true }) meterId!: string | null;
  @Field() message!: string;
}
