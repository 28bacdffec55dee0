#!/usr/bin/env node
// Strict OCPP 1.6J CSMS used by the ocpp_cp test suite (see tests/strict_csms_harness.py).
//
// Built on ocpp-rpc in strictMode: every call and every response, in both directions, is
// validated against the OCPP 1.6 JSON schemas shipped with ocpp-rpc. Each failure is reported
// as a "violation" event. Only listens on 127.0.0.1.
//
// Usage: node server.js <port>   (0 = pick a free port)
//
// Line protocol (one JSON object per line):
//   stdout (events):
//     {"event":"listening","port":N}                                  always the first line
//     {"event":"connected","identity","protocol","endpoint","password"}
//     {"event":"rejected","identity","status","reason"}               handshake refused
//     {"event":"disconnected","identity","code","reason"}
//     {"event":"call_in","identity","messageId","method","params"}    every CALL from the CP
//     {"event":"call_out","identity","id","messageId","method","params"}  our CALL, on the wire
//     {"event":"result_in","id","identity","messageId","method","result"}
//     {"event":"error_in","id","identity","messageId","method","source","code","message",
//                         "details"[, "result"]}
//         source: "callerror"  = the CP answered with a CALLERROR
//                 "validation" = strict validation failed (our params, or the CP's result)
//                 "timeout"    = no answer in time
//                 "not_connected" / "local" = could not be sent / connection went away
//     {"event":"violation","direction":"in"|"out","source","identity","messageId","method",
//                          "isCall","code","error","details","payload"}
//         direction "in"  = the charge point sent something invalid (a call or a response)
//         direction "out" = this CSMS sent (or would have sent) something invalid
//         source "strict"          = ocpp-rpc strictValidationFailure (JSON schema)
//                "badMessage"      = ocpp-rpc badMessage (not a valid OCPP-J RPC frame)
//                "frame"           = extra OCPP-J 1.6 framing checks done here
//                "unexpected_call" = the CP called an action that is not CP-initiated
//                "handshake"       = the CP did not offer the ocpp1.6 subprotocol
//     {"event":"ack","id","cmd"}                                      command applied
//     {"event":"pong","id"}                                           answer to "ping"
//     {"event":"bad_command","line","error"}
//     {"event":"error","error"}                                       server-level error
//     {"event":"stopped"}                                             last line on clean exit
//   stdin (commands):
//     {"cmd":"call","id":"<tag>","method":"GetConfiguration","params":{...}
//                   [,"identity":"CP1"][,"timeout_ms":10000]}   -> result_in / error_in
//     {"cmd":"set_response","method":"BootNotification","result":{...}[,"id":"<tag>"]}
//     {"cmd":"reset_response","method":"BootNotification"[,"id":"<tag>"]}
//     {"cmd":"close"[,"identity":"CP1"][,"code":1000][,"reason":"..."][,"id":"<tag>"]}
//     {"cmd":"ping"[,"id":"<tag>"]}                              -> {"event":"pong","id"}
//     {"cmd":"quit"}
//   Exits on "quit", stdin EOF, SIGTERM or SIGINT.
'use strict';

const readline = require('readline');
const { RPCServer, TimeoutError } = require('ocpp-rpc');

const PROTOCOL = 'ocpp1.6';
const HOST = '127.0.0.1';

// Actions a charge point may initiate (OCPP 1.6 core + security whitepaper edition 2).
const CP_INITIATED = new Set([
    'Authorize',
    'BootNotification',
    'DataTransfer',
    'DiagnosticsStatusNotification',
    'FirmwareStatusNotification',
    'Heartbeat',
    'MeterValues',
    'StartTransaction',
    'StatusNotification',
    'StopTransaction',
    'LogStatusNotification',
    'SecurityEventNotification',
    'SignCertificate',
    'SignedFirmwareStatusNotification',
]);

// OCPP-J 1.6 section 4.2.3 error codes, accepting both spellings where the spec and its
// errata disagree (FormationViolation/FormatViolation, OccurenceConstraintViolation/...).
const CALLERROR_CODES = new Set([
    'NotImplemented',
    'NotSupported',
    'InternalError',
    'ProtocolError',
    'SecurityError',
    'FormationViolation',
    'FormatViolation',
    'PropertyConstraintViolation',
    'OccurenceConstraintViolation',
    'OccurrenceConstraintViolation',
    'TypeConstraintViolation',
    'GenericError',
]);
const MAX_MESSAGE_ID_LENGTH = 36; // OCPP-J 1.6 section 4.1.3

function now() {
    return new Date().toISOString(); // e.g. 2025-01-01T12:00:00.000Z
}

let stopping = false;

function emit(obj) {
    try {
        process.stdout.write(JSON.stringify(obj) + '\n');
    } catch (err) {
        // stdout closed (parent went away): nothing left to report to.
        shutdown(1);
    }
}

function errorFields(err) {
    if (!err) {
        return { code: 'Unknown', error: 'unknown error', details: null };
    }
    let details = null;
    if (err.details && typeof err.details === 'object') {
        details = err.details.errors ?? err.details;
    }
    return {
        code: err.rpcErrorCode ?? err.name ?? 'Error',
        error: String(err.message || err.rpcErrorMessage || err),
        details: details ?? null,
    };
}

// ---- canned answers ------------------------------------------------------------------------

let nextTransactionId = 1;
const accepted = () => ({ idTagInfo: { status: 'Accepted' } });
const CANNED = {
    BootNotification: () => ({ status: 'Accepted', currentTime: now(), interval: 300 }),
    Heartbeat: () => ({ currentTime: now() }),
    StatusNotification: () => ({}),
    Authorize: accepted,
    StartTransaction: () => ({ ...accepted(), transactionId: nextTransactionId++ }),
    StopTransaction: accepted,
    MeterValues: () => ({}),
    DataTransfer: () => ({ status: 'Accepted' }),
    DiagnosticsStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    LogStatusNotification: () => ({}),
    SecurityEventNotification: () => ({}),
    SignCertificate: () => ({ status: 'Accepted' }),
    SignedFirmwareStatusNotification: () => ({}),
};
const overrides = new Map(); // method -> result (deep-copied on use)

// ---- server --------------------------------------------------------------------------------

const server = new RPCServer({
    protocols: [PROTOCOL],
    strictMode: true,
    respondWithDetailedErrors: false,
});

const clients = new Map(); // identity -> most recent RPCServerClient for it
let lastClient = null;

server.on('error', (err) => emit({ event: 'error', error: String(err && err.message) }));
server.on('upgradeAborted', ({ error, identity }) => {
    emit({
        event: 'rejected',
        identity,
        status: error && error.code ? error.code : 500,
        reason: String((error && error.message) || error),
    });
});

server.auth((accept, reject, handshake) => {
    if (!handshake.protocols.has(PROTOCOL)) {
        // Without the subprotocol ocpp-rpc would accept the socket without a protocol and skip
        // strict validation entirely: refuse, and count it as a charge point violation.
        emit({
            event: 'violation',
            direction: 'in',
            source: 'handshake',
            identity: handshake.identity,
            messageId: null,
            method: null,
            isCall: null,
            code: 'ProtocolError',
            error: `charge point did not offer subprotocol ${PROTOCOL}`,
            details: { offered: [...handshake.protocols] },
            payload: null,
        });
        reject(400, `Subprotocol ${PROTOCOL} required`);
        return;
    }
    accept({}, PROTOCOL);
});

// Bookkeeping for calls we make, to tell a real CALLERROR from a local validation failure.
const pendingByParams = new Map(); // params object (identity) -> pending record

function checkFrame(client, payload) {
    // Extra OCPP-J framing checks ocpp-rpc does not do. payload is an already parsed array.
    const problems = [];
    const [type, msgId] = payload;
    if (typeof msgId === 'string' && msgId.length > MAX_MESSAGE_ID_LENGTH) {
        problems.push(`message id longer than ${MAX_MESSAGE_ID_LENGTH} characters`);
    }
    const expectedLength = { 2: 4, 3: 3, 4: 5 }[type];
    if (expectedLength !== undefined && payload.length !== expectedLength) {
        problems.push(`message type ${type} must have ${expectedLength} elements, got ${payload.length}`);
    }
    if (type === 4) {
        const [, , code, description, details] = payload;
        if (!CALLERROR_CODES.has(code)) {
            problems.push(`CALLERROR code ${JSON.stringify(code)} is not an OCPP 1.6 error code`);
        }
        if (typeof description !== 'string') {
            problems.push('CALLERROR errorDescription must be a string');
        }
        if (details === null || typeof details !== 'object' || Array.isArray(details)) {
            problems.push('CALLERROR errorDetails must be a JSON object');
        }
    }
    if (problems.length) {
        emit({
            event: 'violation',
            direction: 'in',
            source: 'frame',
            identity: client.identity,
            messageId: typeof msgId === 'string' ? msgId : null,
            method: type === 2 ? payload[2] : null,
            isCall: type === 2,
            code: 'RpcFrameworkError',
            error: problems.join('; '),
            details: null,
            payload,
        });
    }
}

server.on('client', (client) => {
    const identity = client.identity;
    clients.set(identity, client);
    lastClient = client;
    const rawResponses = new Map(); // messageId -> raw inbound CALLRESULT/CALLERROR payload

    const password = client.handshake.password;
    emit({
        event: 'connected',
        identity,
        protocol: client.protocol,
        endpoint: client.handshake.endpoint,
        password: password === undefined ? null : password.toString('utf8'),
    });

    client.on('strictValidationFailure', (ev) => {
        const pending = ev.params !== null && typeof ev.params === 'object'
            ? pendingByParams.get(ev.params) : undefined;
        if (pending) {
            pending.validationFailed = true;
        }
        emit({
            event: 'violation',
            direction: ev.outbound ? 'out' : 'in',
            source: 'strict',
            identity,
            // An invalid outbound call is never sent, so its generated message id means nothing.
            messageId: ev.outbound && ev.isCall ? null : (ev.messageId ?? null),
            method: ev.method ?? null,
            isCall: Boolean(ev.isCall),
            ...errorFields(ev.error),
            payload: ev.isCall ? (ev.params ?? null) : (ev.result ?? null),
        });
    });

    client.on('badMessage', ({ buffer, error, response }) => {
        emit({
            event: 'violation',
            direction: 'in',
            source: 'badMessage',
            identity,
            messageId: null,
            method: null,
            isCall: null,
            ...errorFields(error),
            payload: Buffer.isBuffer(buffer) ? buffer.toString('utf8') : String(buffer),
            response: response ?? null,
        });
    });

    client.on('call', ({ outbound, payload }) => {
        if (outbound) {
            const pending = pendingByParams.get(payload[3]);
            if (pending) {
                pending.messageId = payload[1];
                emit({
                    event: 'call_out',
                    identity,
                    id: pending.id,
                    messageId: payload[1],
                    method: payload[2],
                    params: payload[3],
                });
            }
            return;
        }
        const [, messageId, method, params] = payload;
        emit({ event: 'call_in', identity, messageId, method, params: params ?? null });
        checkFrame(client, payload);
        if (!CP_INITIATED.has(method)) {
            emit({
                event: 'violation',
                direction: 'in',
                source: 'unexpected_call',
                identity,
                messageId,
                method,
                isCall: true,
                code: 'NotImplemented',
                error: `${JSON.stringify(method)} is not an action a charge point initiates in OCPP 1.6`,
                details: null,
                payload: params ?? null,
            });
        }
    });

    client.on('response', ({ outbound, payload }) => {
        if (outbound) {
            return;
        }
        rawResponses.set(payload[1], payload);
        checkFrame(client, payload);
    });

    client.on('close', ({ code, reason }) => {
        if (clients.get(identity) === client) {
            clients.delete(identity);
        }
        if (lastClient === client) {
            lastClient = [...clients.values()].pop() ?? null;
        }
        emit({
            event: 'disconnected',
            identity,
            code: code ?? null,
            reason: reason === undefined || reason === null ? '' : String(reason),
        });
    });

    client.on('socketError', (err) => {
        emit({ event: 'error', identity, error: String(err && err.message) });
    });

    for (const method of Object.keys(CANNED)) {
        client.handle(method, () => {
            if (overrides.has(method)) {
                return structuredClone(overrides.get(method));
            }
            return CANNED[method]();
        });
    }
    // No wildcard handler: other actions get NotImplemented from ocpp-rpc (as OCPP requires).

    client._ocppCpRawResponses = rawResponses;
});

// ---- commands ------------------------------------------------------------------------------

async function doCall(cmd) {
    const { id, method } = cmd;
    const params = cmd.params === undefined ? {} : cmd.params;
    const client = cmd.identity !== undefined ? clients.get(cmd.identity) : lastClient;
    const base = { id, identity: client ? client.identity : (cmd.identity ?? null), method };
    if (!client) {
        emit({
            event: 'error_in', ...base, messageId: null, source: 'not_connected',
            code: 'NotConnected', message: 'no charge point connected', details: null,
        });
        return;
    }
    const pending = { id, messageId: null, validationFailed: false };
    const trackable = params !== null && typeof params === 'object';
    if (trackable) {
        pendingByParams.set(params, pending);
    }
    const options = {};
    if (typeof cmd.timeout_ms === 'number' && cmd.timeout_ms > 0) {
        options.callTimeoutMs = cmd.timeout_ms;
    }
    try {
        const result = await client.call(method, params, options);
        emit({ event: 'result_in', ...base, messageId: pending.messageId, result });
    } catch (err) {
        const raw = pending.messageId ? client._ocppCpRawResponses.get(pending.messageId) : undefined;
        let fields;
        if (raw && raw[0] === 4) {
            fields = {
                source: 'callerror', code: raw[2], message: raw[3], details: raw[4] ?? null,
            };
        } else if (pending.validationFailed) {
            fields = {
                source: 'validation', ...renameError(errorFields(err)),
                ...(raw && raw[0] === 3 ? { result: raw[2] } : {}),
            };
        } else if (err instanceof TimeoutError) {
            fields = { source: 'timeout', code: 'Timeout', message: String(err.message), details: null };
        } else {
            fields = { source: 'local', ...renameError(errorFields(err)) };
        }
        emit({ event: 'error_in', ...base, messageId: pending.messageId, ...fields });
    } finally {
        if (trackable) {
            pendingByParams.delete(params);
        }
        if (pending.messageId) {
            client._ocppCpRawResponses.delete(pending.messageId);
        }
    }
}

function renameError({ code, error, details }) {
    return { code, message: error, details };
}

function badCommand(line, error) {
    emit({ event: 'bad_command', line, error });
}

function handleLine(line) {
    if (!line.trim()) {
        return;
    }
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (err) {
        badCommand(line, `invalid JSON: ${err.message}`);
        return;
    }
    if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
        badCommand(line, 'command must be a JSON object');
        return;
    }
    switch (cmd.cmd) {
        case 'call':
            if (typeof cmd.id !== 'string' || !cmd.id) {
                badCommand(line, 'call needs a non-empty string "id"');
            } else if (typeof cmd.method !== 'string' || !cmd.method) {
                badCommand(line, 'call needs a non-empty string "method"');
            } else if (cmd.identity !== undefined && typeof cmd.identity !== 'string') {
                badCommand(line, '"identity" must be a string');
            } else {
                doCall(cmd).catch((err) => emit({ event: 'error', error: String(err && err.stack) }));
            }
            return;
        case 'set_response':
            if (typeof cmd.method !== 'string' || !cmd.method) {
                badCommand(line, 'set_response needs a non-empty string "method"');
            } else if (!('result' in cmd)) {
                badCommand(line, 'set_response needs "result"');
            } else {
                overrides.set(cmd.method, cmd.result);
                emit({ event: 'ack', id: cmd.id ?? null, cmd: cmd.cmd, method: cmd.method });
            }
            return;
        case 'reset_response':
            if (typeof cmd.method !== 'string' || !cmd.method) {
                badCommand(line, 'reset_response needs a non-empty string "method"');
            } else {
                overrides.delete(cmd.method);
                emit({ event: 'ack', id: cmd.id ?? null, cmd: cmd.cmd, method: cmd.method });
            }
            return;
        case 'close': {
            const client = cmd.identity !== undefined ? clients.get(cmd.identity) : lastClient;
            const code = Number.isInteger(cmd.code) ? cmd.code : 1000;
            const reason = typeof cmd.reason === 'string' ? cmd.reason : '';
            const identity = client ? client.identity : null;
            if (client) {
                client.close({ code, reason }).catch(() => {});
            }
            emit({ event: 'ack', id: cmd.id ?? null, cmd: cmd.cmd, identity, closed: Boolean(client) });
            return;
        }
        case 'ping':
            emit({ event: 'pong', id: cmd.id ?? null });
            return;
        case 'quit':
            shutdown(0);
            return;
        default:
            badCommand(line, `unknown cmd ${JSON.stringify(cmd.cmd)}`);
    }
}

// ---- lifecycle -----------------------------------------------------------------------------

let httpServer = null;

async function shutdown(exitCode) {
    if (stopping) {
        return;
    }
    stopping = true;
    const hardExit = setTimeout(() => process.exit(exitCode), 3000);
    hardExit.unref();
    try {
        await Promise.all([...clients.values()].map((c) => c.close({ code: 1001, force: false })
            .catch(() => {})));
        await server.close({ code: 1001, force: true });
        if (httpServer) {
            httpServer.closeAllConnections?.();
            await new Promise((resolve) => httpServer.close(() => resolve()));
        }
    } catch (err) {
        // best effort
    }
    try {
        process.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
    } catch (err) {
        // ignore
    }
    process.exit(exitCode);
}

async function main() {
    const portArg = process.argv[2] === undefined ? '0' : process.argv[2];
    const port = Number(portArg);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(`invalid port ${JSON.stringify(portArg)}\n`);
        process.exit(2);
    }
    process.stdout.on('error', () => shutdown(1));
    process.on('SIGTERM', () => shutdown(0));
    process.on('SIGINT', () => shutdown(0));

    httpServer = await server.listen(port, HOST);
    emit({ event: 'listening', port: httpServer.address().port });

    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    rl.on('line', handleLine);
    rl.on('close', () => shutdown(0));
}

main().catch((err) => {
    process.stderr.write(`strict CSMS failed to start: ${err && err.stack}\n`);
    process.exit(1);
});
