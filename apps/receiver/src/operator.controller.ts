import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Inject,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';

import { Access, Public } from '@app/auth';
import { Pool } from 'pg';
import { z } from 'zod';

import type { ReceiverConfig } from '@app/config';
import { BlsPublicKey, blsVerify, fromHex, toHex } from '@app/crypto';

import { FeedbackContractRunner, METER_COMMANDS_TAG, saveOperatorAccount } from './feedback-contract';
import {
  limitParam,
  meterIdParam,
  optionalMeterIdParam,
  RECEIVER_CONFIG,
  RECEIVER_DB,
  RECEIVER_RUNTIME,
  type ReceiverRuntime,
} from './receiver.tokens';
import { NodeMeters } from './node-meters';

const accountSchema = z
  .object({
    prepaid: z.boolean(),
    prepaid_balance: z.number().finite(),
    prepaid_low_level: z.number().finite(),
    arrears: z.number().finite().min(0),
    arrears_level: z.number().finite().min(0),
    serious_arrears_level: z.number().finite().min(0),
    threshold_value: z.number().finite().min(0),
    latest_price: z.number().finite().min(0),
  })
  .strict();

@ApiTags('grid operator')
@ApiBearerAuth()
@Access('self')
@Controller()
export class OperatorController {
  constructor(
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    @Inject(FeedbackContractRunner) private readonly contract: FeedbackContractRunner,
    @Inject(RECEIVER_RUNTIME) private readonly runtime: ReceiverRuntime,
    private readonly meters: NodeMeters,
  ) {}

  @Put('accounts/:meterId')
  @ApiOperation({
    summary:
      "The operator's data for one meter (balances, levels, threshold, price), used by Algorithm 1 from the next report on. Each change raises the version.",
  })
  async putAccount(@Param('meterId') meterId: string, @Body() body: unknown) {
    meterIdParam(meterId);
    const parsed = accountSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException(
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; '),
      );
    }
    const a = parsed.data;
    const version = await saveOperatorAccount(this.db, meterId, a);
    return { meterId, version, ...a };
  }

  @Get('meters/:meterId/commands')
  @Public() // the meter signs the request itself (authenticateMeter)
  @ApiOperation({
    summary:
      'The commands waiting for a meter (power-saving mode, forced trip, re-upload), oldest first. The meter signs "commands:<meterId>:<timestamp>" (BLS, tag CBSG-METER-COMMANDS-V1) with its registered key: headers X-CBSG-Timestamp and X-CBSG-Signature.',
  })
  async commands(
    @Param('meterId') meterId: string,
    @Headers('x-cbsg-timestamp') timestamp?: string,
    @Headers('x-cbsg-signature') signature?: string,
  ) {
    await this.authenticateMeter(meterId, `commands:${meterId}`, timestamp, signature);
    const { rows } = await this.db.query<{
      command_id: string;
      type: string;
      message: string;
      trigger: string;
      created_at: Date;
    }>(
      `SELECT command_id, type, message, trigger, created_at FROM meter_commands
       WHERE receiver_id = $1 AND meter_id = $2 AND acked_at IS NULL ORDER BY created_at, command_id LIMIT 100`,
      [this.config.receiverId, meterId],
    );
    return rows.map((r) => ({
      id: r.command_id,
      type: r.type,
      message: r.message,
      trigger: r.trigger,
      createdAt: r.created_at,
    }));
  }

  @Post('meters/:meterId/commands/:commandId/ack')
  @Public() // the meter signs the request itself (authenticateMeter)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'The meter says it carried out a command: signed like the fetch, over "ack:<meterId>:<commandId>:<timestamp>". A second acknowledgement changes nothing.',
  })
  async ack(
    @Param('meterId') meterId: string,
    @Param('commandId') commandId: string,
    @Headers('x-cbsg-timestamp') timestamp?: string,
    @Headers('x-cbsg-signature') signature?: string,
  ) {
    // Action ids are printable ASCII (<result hash>:<n>); anything else names no command.
    if (!/^[\x21-\x7e]{1,256}$/.test(commandId)) {
      throw new BadRequestException('commandId is not a command id');
    }
    await this.authenticateMeter(meterId, `ack:${meterId}:${commandId}`, timestamp, signature);
    const { rows } = await this.db.query<{ acked_at: Date }>(
      `UPDATE meter_commands SET acked_at = COALESCE(acked_at, now())
       WHERE receiver_id = $1 AND meter_id = $2 AND command_id = $3 RETURNING acked_at`,
      [this.config.receiverId, meterId, commandId],
    );
    if (!rows[0]) {
      throw new NotFoundException(`no command ${commandId} for ${meterId}`);
    }
    return { id: commandId, ackedAt: rows[0].acked_at };
  }

  /** 401 unless the request is signed, recently, with the key the meter registered on the chain. */
  private async authenticateMeter(
    meterId: string,
    what: string,
    timestamp?: string,
    signature?: string,
  ): Promise<void> {
    meterIdParam(meterId);
    if (!timestamp || !/^\d{1,15}$/.test(timestamp) || !signature || !/^[0-9a-f]{192}$/.test(signature)) {
      throw new UnauthorizedException('sign the request as the meter: X-CBSG-Timestamp and X-CBSG-Signature');
    }
    if (Math.abs(Date.now() - Number(timestamp)) > 300_000) {
      throw new UnauthorizedException("the request is more than 5 minutes off this receiver's clock");
    }
    const meter = await this.meters.get(meterId).catch(() => undefined);
    if (!meter) {
      throw new UnauthorizedException(`no meter ${meterId} is registered`);
    }
    // Checked (proof of possession) by every node when the meter registered.
    const key = BlsPublicKey.fromTrustedBytes(fromHex(meter.publicKey, 'key', 48));
    const ok = blsVerify(
      key,
      { tag: METER_COMMANDS_TAG, chainId: this.runtime.chainId },
      Buffer.from(`${what}:${timestamp}`),
      fromHex(signature, 'signature', 96),
    );
    if (!ok) {
      throw new UnauthorizedException(`the request is not signed with ${meterId}'s registered key`);
    }
  }

  @Get('contract-results')
  @ApiQuery({ name: 'meter', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  @ApiOperation({ summary: 'Results of the feedback contract, newest first, with their chain transaction.' })
  async results(@Query('meter') meter?: string, @Query('limit') limit?: string) {
    const { rows } = await this.db.query<{
      trigger: string;
      meter_id: string;
      contract_id: string;
      contract_version: number;
      input: unknown;
      result_hash: string;
      actions: unknown;
      tx_hash: Buffer | null;
      created_at: Date;
    }>(
      `SELECT trigger, meter_id, contract_id, contract_version, input, result_hash, actions, tx_hash, created_at
       FROM contract_results WHERE receiver_id = $1 AND ($2::text IS NULL OR meter_id = $2)
       ORDER BY created_at DESC, trigger LIMIT $3`,
      [this.config.receiverId, optionalMeterIdParam(meter, 'meter') ?? null, limitParam(limit, 100, 1000)],
    );
    return rows.map((r) => ({
      trigger: r.trigger,
      meterId: r.meter_id,
      contract: { id: r.contract_id, version: r.contract_version },
      input: r.input,
      resultHash: r.result_hash,
      actions: r.actions,
      txHash: r.tx_hash ? toHex(r.tx_hash) : null,
      createdAt: r.created_at,
    }));
  }

  @Get('queues')
  @ApiOperation({
    summary: 'Jobs per queue: waiting, active, delayed, failed (the dead-letter set), completed.',
  })
  queues() {
    return this.contract.queueCounts();
  }
}
