-- CreateTable
CREATE TABLE "events" (
    "position" BIGINT NOT NULL,
    "stream_id" TEXT NOT NULL,
    "stream_version" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "schema_version" INTEGER NOT NULL,
    "payload" JSONB NOT NULL,
    "metadata" JSONB NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "content_hash" BYTEA NOT NULL,
    "chain_hash" BYTEA NOT NULL,

    CONSTRAINT "events_pkey" PRIMARY KEY ("position")
);

-- CreateTable
CREATE TABLE "outbox" (
    "id" BIGSERIAL NOT NULL,
    "queue" TEXT NOT NULL,
    "job_name" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "projection_checkpoints" (
    "name" TEXT NOT NULL,
    "position" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "projection_checkpoints_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "processed_jobs" (
    "consumer" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "processed_jobs_pkey" PRIMARY KEY ("consumer","job_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "events_stream_id_stream_version_key" ON "events"("stream_id", "stream_version");

-- CreateIndex
CREATE INDEX "events_type_position_idx" ON "events"("type", "position");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_job_id_key" ON "outbox"("job_id");

-- The journal is append-only for everyone who does not disable this trigger on purpose (which needs
-- the table's owner): an edit or a deletion is then still found by the hash chain (EventStore.verify).
CREATE FUNCTION "cbsg_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "events_append_only"
    BEFORE UPDATE OR DELETE ON "events"
    FOR EACH ROW EXECUTE FUNCTION "cbsg_refuse_change"();

CREATE TRIGGER "events_no_truncate"
    BEFORE TRUNCATE ON "events"
    FOR EACH STATEMENT EXECUTE FUNCTION "cbsg_refuse_change"();

-- Appends a batch of commands (each: one stream, an expected version, its events and outbox jobs).
--
-- Everything happens under one transaction-scoped advisory lock, held until COMMIT. That makes
-- positions gapless and assigned in commit order: a reader that has seen position p can never later
-- see a smaller position commit (the sequence-versus-commit-order trap of Postgres event stores), so
-- subscriptions may simply read "position > checkpoint". The lock also serialises the hash chain.
-- A command whose expected version is not the stream's current version is rejected as a whole and
-- reported back; the other commands of the batch are appended.
--
-- Input:  {"commands": [{"s": stream, "e": expected version, "events": [{"t", "sv", "p", "m", "at", "h"}],
--                        "jobs": [{"q", "n", "id", "p"}]}]}
--         ("at" is epoch milliseconds, "h" the hex content hash computed by the application; the
--          stream version of the k-th event (from 1) is e + k.)
-- Output: {"results": [{"ok": true, "first": position} | {"ok": false, "actual": version}], "head": position}
CREATE FUNCTION "cbsg_append_events"(batch JSONB) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    head_position BIGINT;
    head_hash BYTEA;
    stream_versions JSONB := '{}'::JSONB;
    results JSONB := '[]'::JSONB;
    command JSONB;
    event JSONB;
    job JSONB;
    actual INTEGER;
    expected INTEGER;
    version INTEGER;
    content BYTEA;
    positions BIGINT[] := '{}';
    streams TEXT[] := '{}';
    versions INTEGER[] := '{}';
    types TEXT[] := '{}';
    schema_versions INTEGER[] := '{}';
    payloads JSONB[] := '{}';
    metadatas JSONB[] := '{}';
    occurred TIMESTAMPTZ[] := '{}';
    contents BYTEA[] := '{}';
    chains BYTEA[] := '{}';
    job_count INTEGER := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7243001);
    -- A new snapshot for this statement: it sees every append committed before the lock was granted.
    SELECT e.position, e.chain_hash INTO head_position, head_hash
        FROM events e ORDER BY e.position DESC LIMIT 1;
    IF head_position IS NULL THEN
        head_position := 0;
        head_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::BYTEA;
    END IF;

    FOR command IN SELECT value FROM jsonb_array_elements(batch->'commands') LOOP
        expected := (command->>'e')::INTEGER;
        IF stream_versions ? (command->>'s') THEN
            actual := (stream_versions->>(command->>'s'))::INTEGER;
        ELSE
            SELECT COALESCE(MAX(e.stream_version), 0) INTO actual FROM events e WHERE e.stream_id = command->>'s';
        END IF;
        IF actual <> expected THEN
            results := results || jsonb_build_array(jsonb_build_object('ok', false, 'actual', actual));
            CONTINUE;
        END IF;
        results := results || jsonb_build_array(jsonb_build_object('ok', true, 'first', head_position + 1));
        version := expected;
        FOR event IN SELECT value FROM jsonb_array_elements(command->'events') LOOP
            version := version + 1;
            head_position := head_position + 1;
            content := decode(event->>'h', 'hex');
            head_hash := sha256(convert_to('cbsg/event-chain/v1', 'UTF8') || head_hash || int8send(head_position) || content);
            positions := positions || head_position;
            streams := streams || (command->>'s');
            versions := versions || version;
            types := types || (event->>'t');
            schema_versions := schema_versions || (event->>'sv')::INTEGER;
            payloads := payloads || (event->'p');
            metadatas := metadatas || (event->'m');
            occurred := occurred || (TIMESTAMPTZ 'epoch' + (event->>'at')::BIGINT * INTERVAL '1 millisecond');
            contents := contents || content;
            chains := chains || head_hash;
        END LOOP;
        stream_versions := jsonb_set(stream_versions, ARRAY[command->>'s'], to_jsonb(version));
        IF command ? 'jobs' THEN
            FOR job IN SELECT value FROM jsonb_array_elements(command->'jobs') LOOP
                INSERT INTO outbox (queue, job_name, job_id, payload)
                    VALUES (job->>'q', job->>'n', job->>'id', job->'p')
                    ON CONFLICT (job_id) DO NOTHING;
                job_count := job_count + 1;
            END LOOP;
        END IF;
    END LOOP;

    IF cardinality(positions) > 0 THEN
        INSERT INTO events (position, stream_id, stream_version, type, schema_version, payload, metadata,
                            occurred_at, content_hash, chain_hash)
            SELECT * FROM unnest(positions, streams, versions, types, schema_versions, payloads, metadatas,
                                 occurred, contents, chains);
        PERFORM pg_notify('cbsg_events', head_position::TEXT);
    END IF;
    IF job_count > 0 THEN
        PERFORM pg_notify('cbsg_outbox', job_count::TEXT);
    END IF;
    RETURN jsonb_build_object('results', results, 'head', head_position);
END;
$$;
