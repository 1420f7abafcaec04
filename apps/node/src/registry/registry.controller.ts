import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { Pool } from 'pg';

import { Access, type AuthenticatedRequest, Public } from '@app/auth';

import { toHex } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { keysetPage, PG_POOL, PrismaService, SqlConditions } from '@app/persistence';
import { ChainService, type TransactionReceipt } from '@app/chain';
import { GenesisService } from '@app/registry';

import {
  choiceParameter,
  idParameter,
  InvalidParameterError,
  limitParameter,
  requiredIdParameter,
  smallCountParameter,
} from '../http/query-parameters';

const CONTRACT_COLUMNS = 'id, version, owner, receiver_id, hash, tx, deployed_at, document';

/** Between the two parts of a contracts page's cursor: a character no identifier holds. */
const CURSOR_SEPARATOR = ',';

/**
 * A contracts page's cursor: `<first>,<owner>`, as the previous page's `next` gave it. The first part
 * is read by `first` (an id or a version), the owner as an identifier.
 */
function contractCursor<T>(
  value: unknown,
  first: (part: string, name: string) => T | undefined,
): [T, string] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const text = typeof value === 'string' ? value : '';
  const at = text.lastIndexOf(CURSOR_SEPARATOR);
  const head = at > 0 ? first(text.slice(0, at), 'cursor') : undefined;
  const owner = at > 0 ? idParameter(text.slice(at + 1), 'cursor') : undefined;
  if (head === undefined || owner === undefined) {
    throw new InvalidParameterError('cursor', "a contracts page's `next`, unchanged");
  }
  return [head, owner];
}

/** A version of a contract as stored (registry_contracts). */
interface DeployedContract {
  id: string;
  version: number;
  owner: string;
  receiverId: string;
  hash: string;
  tx: Uint8Array;
  deployedAt: Date;
  document: unknown;
}

const PAGE_CURSOR_DESCRIPTION =
  "the previous page's `next`, with the same filters; absent for the first page";

/** A page of `key` (objects) with the cursor of the next one. */
function listSchema(key: string, cursor: string) {
  return {
    type: 'object',
    required: [key, 'next'],
    properties: {
      [key]: { type: 'array', items: { type: 'object' } },
      next: {
        type: 'string',
        nullable: true,
        description: `${cursor} of the last item: pass it as \`cursor\` for the next page; null when nothing follows`,
      },
    },
  };
}

const TRANSACTION_SCHEMA = {
  type: 'object',
  required: ['version', 'chainId', 'kind', 'sender', 'timestamp', 'body', 'signature'],
  properties: {
    version: { type: 'integer', enum: [1] },
    chainId: { type: 'string' },
    kind: { type: 'string', example: 'meter.register' },
    sender: {
      type: 'string',
      description:
        'the signing organisation, or owner:<meterId> for a meter owner (contract.deploy of a device contract only)',
    },
    timestamp: { type: 'integer', description: 'epoch milliseconds' },
    body: {
      type: 'object',
      description: 'kind-specific; see libs/registry/src/domain/transaction-bodies.ts',
    },
    signature: { type: 'string', description: 'BLS signature (96 bytes, hex) by the sender organisation' },
  },
  additionalProperties: false,
};

@ApiTags('registry')
@ApiBearerAuth()
@Access('organisation', 'admin')
@Controller()
export class RegistryController {
  constructor(
    private readonly chain: ChainService,
    private readonly prisma: PrismaService,
    private readonly genesis: GenesisService,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  @Post('transactions')
  @Public()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Submit a signed registry transaction (meters, receivers, delegates, partial keys, revocations).',
  })
  @ApiBody({ schema: TRANSACTION_SCHEMA })
  submit(@Body() body: unknown): Promise<TransactionReceipt> {
    return this.chain.submitTransaction(Transaction.fromJSON(body));
  }

  @Get('genesis')
  @Public()
  @ApiOperation({ summary: 'The genesis document of this chain and its hash.' })
  genesisDocument() {
    const { document, hash } = this.genesis.current();
    return { hash: toHex(hash), document };
  }

  @Get('organisations')
  @Public()
  @ApiOperation({ summary: 'Member organisations and their roles.' })
  async organisations() {
    const rows = await this.prisma.organisation.findMany({ orderBy: { id: 'asc' } });
    return rows.map((o) => ({
      id: o.id,
      name: o.name,
      roles: o.roles,
      publicKey: toHex(o.publicKey),
      stake: o.stake.toString(),
    }));
  }

  @Get('meters/:id')
  @ApiParam({ name: 'id', description: 'meter identity' })
  @ApiOperation({
    summary:
      "A meter: keys, sharing policy, status (its owner's contact and location to organisations and admins only).",
  })
  @Public()
  async meter(@Param('id') value: string, @Req() request: AuthenticatedRequest) {
    // Checked before the query: Postgres text cannot hold NUL, and an id that breaks the registry's
    // rules names no meter anyway.
    const id = requiredIdParameter(value, 'id');
    const m = await this.prisma.meter.findUnique({ where: { id } });
    if (!m) {
      throw new NotFoundException(`no meter ${id}`);
    }
    return {
      id: m.id,
      registrar: m.registrar,
      status: m.status,
      publicKey: toHex(m.publicKey),
      alpha: m.alpha ? toHex(m.alpha) : null,
      dimensions: m.dimensions,
      policy: m.policy,
      epoch: m.epoch,
      // Where the owner's notifications go: on the chain, so members (and the node's admins) may
      // read it; the meter itself, a peer node's token and anyone without credentials have no need.
      ...(request.principal?.kind === 'organisation' || request.principal?.kind === 'admin'
        ? { owner: m.owner, location: m.location }
        : {}),
      registeredTx: toHex(m.registeredTx),
      activatedTx: m.activatedTx ? toHex(m.activatedTx) : null,
      revokedTx: m.revokedTx ? toHex(m.revokedTx) : null,
      revokedReason: m.revokedReason,
      registeredAt: m.registeredAt,
      updatedAt: m.updatedAt,
    };
  }

  @Get('receivers')
  @Public()
  @ApiOperation({ summary: 'Registered receivers and their encryption keys.' })
  async receivers() {
    const rows = await this.prisma.receiver.findMany({ orderBy: { id: 'asc' } });
    return rows.map((r) => this.receiverView(r));
  }

  @Get('receivers/:id')
  @Public()
  @ApiParam({ name: 'id', description: 'receiver identity' })
  async receiver(@Param('id') value: string) {
    const id = requiredIdParameter(value, 'id');
    const r = await this.prisma.receiver.findUnique({ where: { id } });
    if (!r) {
      throw new NotFoundException(`no receiver ${id}`);
    }
    return this.receiverView(r);
  }

  @Get('contracts')
  @ApiOperation({
    summary:
      "Contracts deployed on the chain (contract.deploy). A contract id is its owner's name: two owners may each deploy their own contract under one id. The latest version of each owner's contract, by id then owner, a page at a time; or with ?id= every version of that id, newest first (with ?owner=, one owner's).",
  })
  @ApiQuery({ name: 'id', required: false, description: 'one contract id: every version, newest first' })
  @ApiQuery({ name: 'owner', required: false, description: 'the deploying organisation' })
  @ApiQuery({ name: 'receiverId', required: false, description: 'the receiver the contract runs for' })
  @ApiQuery({ name: 'cursor', required: false, description: PAGE_CURSOR_DESCRIPTION })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  })
  @ApiOkResponse({
    schema: listSchema('contracts', 'the contract id and owner (a version and owner with ?id=)'),
  })
  @ApiBadRequestResponse({ description: 'REQUEST.INVALID_PARAMETER, naming the parameter' })
  async contracts(@Query() query: Record<string, unknown>) {
    const id = idParameter(query.id, 'id');
    const owner = idParameter(query.owner, 'owner');
    const receiverId = idParameter(query.receiverId, 'receiverId');
    const limit = limitParameter(query.limit, 100, 500);
    // Every version of one id, newest first (cursor: version and owner), or the latest of each
    // owner's contract by id and owner (cursor: id and owner).
    const rows =
      id === undefined
        ? await this.latestContracts({
            owner,
            receiverId,
            after: contractCursor(query.cursor, idParameter),
            take: limit + 1,
          })
        : await this.contractVersions({
            id,
            owner,
            receiverId,
            below: contractCursor(query.cursor, (value) => smallCountParameter(value, 'cursor')),
            take: limit + 1,
          });
    const page = keysetPage(rows, limit, (r) =>
      id === undefined ? `${r.id}${CURSOR_SEPARATOR}${r.owner}` : `${r.version}${CURSOR_SEPARATOR}${r.owner}`,
    );
    return {
      contracts: page.items.map((r) => ({
        id: r.id,
        version: r.version,
        owner: r.owner,
        receiverId: r.receiverId,
        hash: r.hash,
        tx: toHex(r.tx),
        deployedAt: r.deployedAt,
        document: r.document,
      })),
      next: page.next,
    };
  }

  @Get('delegates')
  @ApiOperation({
    summary:
      'Accounting-node delegates and their block-signing keys, by id, a page at a time (keyset on id), filtered by status and organisation.',
  })
  @ApiQuery({ name: 'status', required: false, enum: ['active', 'revoked'] })
  @ApiQuery({ name: 'organisation', required: false, description: 'the operating organisation' })
  @ApiQuery({ name: 'cursor', required: false, description: PAGE_CURSOR_DESCRIPTION })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 500, default: 200 },
  })
  @ApiOkResponse({ schema: listSchema('delegates', 'the delegate id') })
  @ApiBadRequestResponse({ description: 'REQUEST.INVALID_PARAMETER, naming the parameter' })
  async delegates(@Query() query: Record<string, unknown>) {
    const status = choiceParameter(query.status, 'status', ['active', 'revoked']);
    const organisation = idParameter(query.organisation, 'organisation');
    const cursor = idParameter(query.cursor, 'cursor');
    const limit = limitParameter(query.limit, 200, 500);
    const rows = await this.prisma.delegate.findMany({
      where: {
        ...(status === undefined ? {} : { status }),
        ...(organisation === undefined ? {} : { organisation }),
        ...(cursor === undefined ? {} : { id: { gt: cursor } }),
      },
      orderBy: { id: 'asc' },
      take: limit + 1,
    });
    const page = keysetPage(rows, limit, (d) => d.id);
    return {
      delegates: page.items.map((d) => ({
        id: d.id,
        organisation: d.organisation,
        status: d.status,
        publicKey: toHex(d.publicKey),
        revokedReason: d.revokedReason,
      })),
      next: page.next,
    };
  }

  /** The latest version of each owner's contract, in (id, owner) order, after `after`. */
  private async latestContracts(filter: {
    owner?: string;
    receiverId?: string;
    after?: [string, string];
    take: number;
  }): Promise<DeployedContract[]> {
    const conditions = new SqlConditions()
      .add('owner', '=', filter.owner)
      .add('receiver_id', '=', filter.receiverId)
      .addRow(['id', 'owner'], '>', filter.after);
    return this.contractRows(
      `SELECT DISTINCT ON (id, owner) ${CONTRACT_COLUMNS} FROM registry_contracts ${conditions.where()}
       ORDER BY id, owner, version DESC LIMIT ${conditions.parameter(filter.take)}`,
      conditions.values,
    );
  }

  /** Every version of one contract id, newest first (then by owner), below `below`. */
  private async contractVersions(filter: {
    id: string;
    owner?: string;
    receiverId?: string;
    below?: [number, string];
    take: number;
  }): Promise<DeployedContract[]> {
    const conditions = new SqlConditions()
      .add('id', '=', filter.id)
      .add('owner', '=', filter.owner)
      .add('receiver_id', '=', filter.receiverId)
      .addRow(['version', 'owner'], '<', filter.below);
    return this.contractRows(
      `SELECT ${CONTRACT_COLUMNS} FROM registry_contracts ${conditions.where()}
       ORDER BY version DESC, owner DESC LIMIT ${conditions.parameter(filter.take)}`,
      conditions.values,
    );
  }

  private async contractRows(sql: string, values: unknown[]): Promise<DeployedContract[]> {
    const { rows } = await this.pool.query<{
      id: string;
      version: number;
      owner: string;
      receiver_id: string;
      hash: string;
      tx: Buffer;
      deployed_at: Date;
      document: unknown;
    }>(sql, values);
    return rows.map((r) => ({
      id: r.id,
      version: r.version,
      owner: r.owner,
      receiverId: r.receiver_id,
      hash: r.hash,
      tx: r.tx,
      deployedAt: r.deployed_at,
      document: r.document,
    }));
  }

  private receiverView(r: {
    id: string;
    organisation: string;
    role: string;
    status: string;
    publicKey: Uint8Array;
    alpha: Uint8Array | null;
    registeredTx: Uint8Array;
    activatedTx: Uint8Array | null;
    revokedReason: string | null;
  }) {
    return {
      id: r.id,
      organisation: r.organisation,
      role: r.role,
      status: r.status,
      publicKey: toHex(r.publicKey),
      alpha: r.alpha ? toHex(r.alpha) : null,
      registeredTx: toHex(r.registeredTx),
      activatedTx: r.activatedTx ? toHex(r.activatedTx) : null,
      revokedReason: r.revokedReason,
    };
  }
}
