import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { keyFingerprint, type RegisteredMeter, type Report, TrustedMeterKeys } from '@app/crypto';
import { ReportVerifier } from '@app/intake';
import { DomainError } from '@app/kernel';
import {
  type Block,
  checkQuorumCertificate,
  producerOfSlot,
  type QuorumCertificate,
  roundOfSlot,
  type RoundSchedule,
  slotAt,
  slotStart,
} from '@app/ledger';
import { PG_POOL } from '@app/persistence';
import {
  decideRegistryTransaction,
  GenesisService,
  BlockRegistryView,
  type RegistryChange,
  RegistryError,
  RegistryOverlay,
} from '@app/registry';

import { ChainContext } from './chain-context.service';
import { ChainRepository } from './chain.repository';
import type { Candidate, ChainTree } from './chain-tree';
import { ScheduleService } from './schedule.service';

/** A block refused, with the rule it breaks (logged, and answered to the peer that sent it). */
export class BlockRejectedError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}

const reject = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new BlockRejectedError(code, message, details);

/** Meter keys decoded by the validator and kept (as many as the crypto pool keeps by default). */
const METER_KEY_CACHE_SIZE = 100_000;

/**
 * Every check a node runs on a block before it accepts it (issue 5): parent and height, slot and
 * producer, the producer's signature, the parent's quorum certificate, the body against the header
 * (Merkle root, receiver index), no transaction twice in the chain, every registry transaction by the
 * registry's rules against the state of the block's own chain, every report (meter, receivers,
 * window, replay) and its signature in one weighted batch, skipping those this node verified before.
 */
@Injectable()
export class BlockValidator {
  private readonly repository: ChainRepository;
  /** Decoded once per key, not once per report: the same object also keeps the pool's encoding of it. */
  private readonly meterKeys = new TrustedMeterKeys(METER_KEY_CACHE_SIZE);

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly verifier: ReportVerifier,
    private readonly context: ChainContext,
    private readonly schedules: ScheduleService,
    private readonly genesis: GenesisService,
  ) {
    this.repository = new ChainRepository(pool);
  }

  /**
   * `certificate`: a quorum certificate that came beside the block (catch-up). It lets a block in
   * whose slot this node already holds another one: the network certified it, the other one lost.
   */
  async validate(
    block: Block,
    tree: ChainTree,
    now = Date.now(),
    certificate: QuorumCertificate | null = null,
  ): Promise<Candidate> {
    const header = block.header;
    const timing = this.context.timing;
    if (header.chainId !== this.context.chainId) {
      throw reject('BLOCK.WRONG_CHAIN', `the block is for chain ${header.chainId}`);
    }
    const { maxBlockTransactions } = this.context.blockRules;
    if (header.transactionCount > maxBlockTransactions) {
      throw reject(
        'BLOCK.TOO_LARGE',
        `the block holds ${header.transactionCount} entries; the consortium's limit is ${maxBlockTransactions}`,
      );
    }
    const parentHex = Buffer.from(header.previousHash).toString('hex');
    const parent = tree.parent(parentHex);
    if (!parent) {
      throw reject(
        'BLOCK.UNKNOWN_PARENT',
        `parent ${parentHex.slice(0, 16)}… is not the final tip or a candidate here`,
        { parentHex },
      );
    }
    if (header.height !== parent.height + 1n) {
      throw reject(
        'BLOCK.BAD_HEIGHT',
        `height ${header.height} does not follow its parent's ${parent.height}`,
      );
    }
    if (header.slot <= parent.slot) {
      throw reject('BLOCK.BAD_SLOT', `slot ${header.slot} is not after its parent's ${parent.slot}`);
    }
    if (header.slot > slotAt(timing, now) + 1n) {
      throw reject('BLOCK.FUTURE_SLOT', `slot ${header.slot} has not started yet`);
    }
    if (header.timestamp !== slotStart(timing, header.slot)) {
      throw reject('BLOCK.BAD_TIMESTAMP', `the timestamp is not the start of slot ${header.slot}`);
    }
    const ancestors = tree.pathTo(parentHex) ?? [];
    const schedule = await this.schedules.onBranch(
      roundOfSlot(timing, header.slot),
      tree.finalTip,
      ancestors,
    );
    const expected = producerOfSlot(timing, schedule, header.slot);
    if (header.producer !== expected) {
      throw reject(
        'BLOCK.WRONG_PRODUCER',
        `slot ${header.slot} belongs to ${expected}, not ${header.producer}`,
      );
    }
    const producerKey = this.context.delegateKey(header.producer);
    if (!producerKey || !block.verifySignature(producerKey)) {
      throw reject('BLOCK.BAD_SIGNATURE', `the block is not signed by ${header.producer}'s key`);
    }
    // Equivocation is one producer signing two blocks for a slot. Two producers at one slot happen
    // across a network cut (each side elected its own round) and are settled by fork choice.
    const rival = tree.atSlot(header.slot, header.producer);
    if (
      rival &&
      rival.hashHex !== block.hashHex &&
      !(certificate && this.certifies(certificate, block, schedule))
    ) {
      throw reject(
        'BLOCK.EQUIVOCATION',
        `${header.producer} already made block ${rival.hashHex.slice(0, 16)}… for slot ${header.slot}; a second block for a slot is refused unless a quorum certified it`,
        { rival: rival.hashHex },
      );
    }
    if (!block.bodyMatchesHeader()) {
      throw reject(
        'BLOCK.BAD_BODY',
        'the body does not match the header (Merkle root, receiver index or count)',
      );
    }
    if (header.parentCertificate) {
      const parentSchedule = parent.candidate
        ? parent.candidate.schedule
        : parent.slot >= 1n
          ? this.schedules.forSlot(parent.slot)
          : undefined;
      this.checkParentCertificate(block, parent.height, parent.hash, parentSchedule);
    }
    return { ...(await this.validateBody(block, ancestors)), schedule };
  }

  /**
   * Whether `certificate` is a valid quorum certificate on this very block, by the elected set of
   * `schedule`, the block's round on its branch.
   */
  certifies(certificate: QuorumCertificate, block: Block, schedule: RoundSchedule): boolean {
    const round = roundOfSlot(this.context.timing, block.header.slot);
    if (
      schedule.round !== round ||
      certificate.round !== round ||
      certificate.height !== block.height ||
      !Buffer.from(certificate.blockHash).equals(Buffer.from(block.hash))
    ) {
      return false;
    }
    const set = schedule.elected.map((id) => ({ id, publicKey: this.context.delegateKey(id)! }));
    return checkQuorumCertificate(certificate, this.context.chainId, set, schedule.base) === undefined;
  }

  private checkParentCertificate(
    block: Block,
    parentHeight: bigint,
    parentHash: Uint8Array,
    schedule: RoundSchedule | undefined,
  ): void {
    const qc = block.header.parentCertificate!;
    if (qc.height !== parentHeight || !Buffer.from(qc.blockHash).equals(Buffer.from(parentHash))) {
      throw reject('BLOCK.BAD_CERTIFICATE', 'the certificate is not on the parent block');
    }
    if (!schedule || qc.round !== schedule.round) {
      throw reject('BLOCK.BAD_CERTIFICATE', 'the certificate names the wrong round');
    }
    const set = schedule.elected.map((id) => ({ id, publicKey: this.context.delegateKey(id)! }));
    const problem = checkQuorumCertificate(qc, this.context.chainId, set, schedule.base);
    if (problem) {
      throw reject('BLOCK.BAD_CERTIFICATE', problem);
    }
  }

  /** The transactions, against the state of the block's chain (final state + ancestors + earlier entries). */
  private async validateBody(
    block: Block,
    ancestors: readonly Candidate[],
  ): Promise<Omit<Candidate, 'schedule'>> {
    const reports = block.entries.flatMap((e) => (e.type === 'report' ? [e.report] : []));
    const senders = block.entries.flatMap((e) => (e.type === 'transaction' ? [e.transaction.sender] : []));
    const registry = new BlockRegistryView(this.pool);
    // Every read the checks need, at once: under load each round trip costs tens of milliseconds.
    const [, inChain, finalNonces, verifiedBefore] = await Promise.all([
      registry.preload({
        meters: reports.map((r) => r.meterId),
        receivers: reports.flatMap((r) => r.receivers.map((share) => share.id)),
        organisations: senders,
      }),
      this.repository.finalTransactions(
        block.entries.map((e) => (e.type === 'report' ? e.report.id : e.transaction.hash)),
      ),
      this.repository.finalNonces(reports.map((r) => ({ meterId: r.meterId, nonce: r.nonce }))),
      this.verifiedBefore(reports),
    ]);
    const overlay = new RegistryOverlay(registry);
    const seenEntries = new Set<string>();
    const seenNonces = new Set<string>();
    for (const ancestor of ancestors) {
      for (const change of ancestor.changes) {
        await overlay.apply(change);
      }
      ancestor.entries.forEach((e) => seenEntries.add(e));
      ancestor.nonces.forEach((n) => seenNonces.add(n));
    }
    const hashes = block.entries.map((e) =>
      Buffer.from(e.type === 'report' ? e.report.id : e.transaction.hash).toString('hex'),
    );
    const { chainId, params } = this.genesis.current();
    // The consortium's window (genesis), not this node's intake setting: every node must agree.
    const { entryWindowMs, futureSkewMs } = this.context.blockRules;
    const changes: RegistryChange[] = [];
    const nonces = new Set<string>();
    const toVerify: Array<{ report: Report; meter: RegisteredMeter }> = [];
    const ts = block.header.timestamp;
    for (const [position, entry] of block.entries.entries()) {
      const hex = hashes[position]!;
      if (seenEntries.has(hex) || inChain.has(hex)) {
        throw reject(
          'BLOCK.DUPLICATE_TRANSACTION',
          `entry ${position} (${hex.slice(0, 16)}…) is already in the chain`,
          { position },
        );
      }
      seenEntries.add(hex);
      if (entry.type === 'transaction') {
        try {
          const change = await decideRegistryTransaction(entry.transaction, overlay, {
            chainId,
            params,
            now: ts,
            windowMs: entryWindowMs,
            futureSkewMs,
          });
          await overlay.apply(change);
          changes.push(change);
        } catch (error) {
          if (error instanceof RegistryError) {
            throw reject('BLOCK.INVALID_TRANSACTION', `entry ${position}: ${error.code}: ${error.message}`, {
              position,
            });
          }
          throw error;
        }
        continue;
      }
      const report = entry.report;
      const nonceKey = `${report.meterId}\u0000${report.nonce}`;
      if (seenNonces.has(nonceKey) || nonces.has(nonceKey) || finalNonces.has(nonceKey)) {
        throw reject(
          'BLOCK.REPLAYED_REPORT',
          `entry ${position}: nonce ${report.nonce} of ${report.meterId} is used twice in the chain`,
          {
            position,
          },
        );
      }
      nonces.add(nonceKey);
      if (report.timestamp < ts - entryWindowMs || report.timestamp > ts + futureSkewMs) {
        throw reject(
          'BLOCK.REPORT_OUT_OF_WINDOW',
          `entry ${position}: the report's timestamp is outside the block's window`,
          { position },
        );
      }
      toVerify.push({ report, meter: await this.meterKeyFor(report, overlay, position) });
    }
    await this.verifyReports(toVerify.filter((item) => !verifiedBefore.has(item.report.idHex)));
    return {
      block,
      hashHex: block.hashHex,
      parentHex: Buffer.from(block.header.previousHash).toString('hex'),
      certificate: undefined,
      changes,
      nonces,
      entries: new Set(hashes),
    };
  }

  /** The meter must be active in the block's chain, and the report addressed to its policy's receivers. */
  private async meterKeyFor(
    report: Report,
    overlay: RegistryOverlay,
    position: number,
  ): Promise<RegisteredMeter> {
    const meter = await overlay.meter(report.meterId);
    if (!meter || meter.status !== 'active' || !meter.verificationKey) {
      throw reject('BLOCK.INVALID_REPORT', `entry ${position}: meter ${report.meterId} is not active`, {
        position,
      });
    }
    const policy = new Set(meter.policy.map((p) => p.receiver));
    if (report.receivers.length !== policy.size || report.receivers.some((r) => !policy.has(r.id))) {
      throw reject(
        'BLOCK.INVALID_REPORT',
        `entry ${position}: the report does not follow ${report.meterId}'s sharing policy`,
        { position },
      );
    }
    for (const share of report.receivers) {
      const receiver = await overlay.receiver(share.id);
      if (
        !receiver ||
        receiver.status === 'revoked' ||
        !Buffer.from(keyFingerprint(receiver.publicKey)).equals(Buffer.from(share.keyFingerprint))
      ) {
        throw reject(
          'BLOCK.INVALID_REPORT',
          `entry ${position}: the share for ${share.id} is not keyed to that receiver`,
          { position },
        );
      }
    }
    // Trusted: checked in full when the meter was activated on this chain.
    return this.meterKeys.get(meter.verificationKey);
  }

  /** The block's reports this node has verified before (its intake's replay record): never twice. */
  private async verifiedBefore(reports: readonly Report[]): Promise<Set<string>> {
    if (reports.length === 0) {
      return new Set();
    }
    const { rows } = await this.pool.query<{ report_id: Buffer }>(
      `SELECT n.report_id FROM report_nonces n
       JOIN unnest($1::text[], $2::numeric[]) AS q(meter_id, nonce) ON n.meter_id = q.meter_id AND n.nonce = q.nonce`,
      [reports.map((r) => r.meterId), reports.map((r) => r.nonce.toString())],
    );
    return new Set(rows.map((r) => r.report_id.toString('hex')));
  }

  /** Signatures in one weighted batch. */
  private async verifyReports(pending: Array<{ report: Report; meter: RegisteredMeter }>): Promise<void> {
    if (pending.length === 0) {
      return;
    }
    const verdict = await this.verifier.verifyReports(pending, 'block');
    const bad = verdict.invalid[0];
    if (bad !== undefined) {
      const v = verdict.verdicts[bad]!;
      throw reject(
        'BLOCK.BAD_REPORT_SIGNATURE',
        `report ${pending[bad]!.report.idHex.slice(0, 16)}… does not verify (${v.valid ? '' : v.code})`,
      );
    }
  }
}
