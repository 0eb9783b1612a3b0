/**
 * The deployment files under deploy/, read as their consumers would (systemd, Docker, Kubernetes, Prometheus,
 * Grafana) but statically: no engine, cluster or Prometheus runs here. They are tied to the code: every metric and
 * label the alert rules and the dashboard use must exist in KeyctlMetrics' registry, the systemd credential must be
 * the one src/cli/startup-env.ts reads, the ConfigMap's keyctl.yaml must pass keyctl's own config loader, and no file
 * may hold anything shaped like a real credential.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_SCHEMA, load, loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { SCRUBBED_ENV, SYSTEMD_CREDENTIAL } from '../../src/cli/startup-env.js';
import { parseConfig } from '../../src/config/load.js';
import { ALERT_OUTCOMES, KeyctlMetrics, ROTATION_OUTCOMES } from '../../src/observability/metrics.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

function read(path: string): string {
  return readFileSync(join(DEPLOY, path), 'utf8');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

// ---- systemd --------------------------------------------------------------------------------------------------------

/** A unit file as section -> key -> every value assigned (systemd lets a later line add to or reset an earlier one). */
type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit syntax, as much as these files use: sections, `Key=value`, `#`/`;` comments, `\` continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      // A section named twice is one section: systemd merges them.
      section = unit.get(header[1]!) ?? new Map<string, string[]>();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The one value of a key; fails when it is missing or assigned twice (a second line could undo a hardening one). */
function only(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key);
  expect(values, `[${section}] ${key}`).toHaveLength(1);
  return values![0]!;
}

/** The comment lines right above the line that sets `key`. */
function commentAbove(text: string, key: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${key}=`));
  const comment: string[] = [];
  for (let i = at - 1; i >= 0 && lines[i]!.startsWith('#'); i--) comment.unshift(lines[i]!);
  return comment.join('\n');
}

describe('deploy/systemd/keyctl.service', () => {
  const text = read('systemd/keyctl.service');
  const unit = parseUnit(text);

  it('runs `keyctl daemon` on the loopback metrics port, as the fixed user keyctl', () => {
    expect(only(unit, 'Service', 'ExecStart')).toMatch(
      /^\/\S+\/keyctl daemon --config \/etc\/keyctl\/keyctl\.yaml --listen 127\.0\.0\.1:9464$/,
    );
    expect(only(unit, 'Service', 'User')).toBe('keyctl');
    expect(only(unit, 'Service', 'DynamicUser')).toBe('no');
    expect(only(unit, 'Service', 'StateDirectory')).toBe('keyctl');
    expect(only(unit, 'Service', 'ExecReload')).toMatch(/kill -HUP \$MAINPID$/);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('hands over the master key as the systemd credential keyctl reads', () => {
    const [name, path] = only(unit, 'Service', 'LoadCredential').split(':');
    expect(name).toBe(SYSTEMD_CREDENTIAL);
    expect(path).toBe('/etc/keyctl/master.key');
    // A credential must not also come through the environment (keyctl refuses two sources of the master key).
    expect(unit.get('Service')?.has('Environment')).toBe(false);
    expect(unit.get('Service')?.has('EnvironmentFile')).toBe(false);
  });

  it('is hardened', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      MemoryDenyWriteExecute: 'no',
      SystemCallFilter: '@system-service',
      CapabilityBoundingSet: '',
      UMask: '0077',
      Restart: 'on-failure',
      KillSignal: 'SIGTERM',
      TimeoutStopSec: '30',
    };
    for (const [key, value] of Object.entries(expected)) expect(only(unit, 'Service', key), key).toBe(value);
    for (const path of unit.get('Service')?.get('ReadWritePaths') ?? []) expect(path).toMatch(/^\/var\/lib\/keyctl(\/|$)/);
  });

  it('says why MemoryDenyWriteExecute is off', () => {
    expect(commentAbove(text, 'MemoryDenyWriteExecute')).toMatch(/JIT/);
  });
});

// ---- Docker ---------------------------------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions: comments dropped, `\` continuations joined, each with the index of its build stage. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n');
  for (const line of logical) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
  }
  return out;
}

describe('deploy/docker/Dockerfile', () => {
  const instructions = parseDockerfile(read('docker/Dockerfile'));
  const finalStage = Math.max(...instructions.map((i) => i.stage));
  const final = instructions.filter((i) => i.stage === finalStage);
  const all = (op: string, from = instructions) => from.filter((i) => i.op === op).map((i) => i.args);

  it('builds in several stages from a pinned node:22 bookworm-slim image', () => {
    const froms = all('FROM');
    expect(froms.length).toBeGreaterThan(1);
    for (const from of froms) expect(from).toMatch(/^node:22\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?( AS \w+)?$/);
  });

  it('packs keyctl and installs the tarball with its production dependencies at the lockfile versions', () => {
    const run = all('RUN').join('\n');
    expect(run).toMatch(/npm pack --ignore-scripts/);
    expect(run).toMatch(/tar -xzf \S*keyctl-\*\.tgz/);
    expect(run).toMatch(/npm ci --omit=dev/);
    // The build copies what tsconfig.json compiles and what the package ships (package.json "files").
    const copied = new Set(all('COPY').flatMap((c) => (c.startsWith('--from') ? [] : c.split(/\s+/).slice(0, -1))));
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const dir of tsconfig.include.map((p) => p.split('/')[0]!)) expect(copied, dir).toContain(dir);
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json', 'README.md', 'docs']) {
      expect(copied, file).toContain(file);
    }
    // The client workspace (clients/node): its package.json before npm ci (which links it), its sources for the build;
    // the install stage moves the client bundled in the tarball to where the lockfile links it.
    expect(copied).toContain('clients/node/package.json');
    expect(copied).toContain('clients');
    expect(run).toMatch(/mv node_modules\/@keyctl\/client clients\/node/);
  });

  it('runs as the non-root uid 10001, with the store on a volume and a health check through node', () => {
    const users = all('USER', final);
    expect(users).toEqual(['10001:10001']);
    const userAt = final.findIndex((i) => i.op === 'USER');
    expect(final.findIndex((i) => i.op === 'ENTRYPOINT')).toBeGreaterThan(userAt);
    expect(all('VOLUME', final)).toEqual(['["/var/lib/keyctl"]']);
    expect(JSON.parse(all('ENTRYPOINT', final)[0]!)).toEqual(['keyctl']);
    expect(JSON.parse(all('CMD', final)[0]!)).toEqual(['daemon', '--listen', '0.0.0.0:9464']);
    const [healthcheck] = all('HEALTHCHECK', final);
    expect(healthcheck).toMatch(/CMD \["node", "-e", ".*http:\/\/127\.0\.0\.1:9464\/healthz/);
    expect(healthcheck).not.toMatch(/curl|wget/);
  });

  it('puts no secret in ENV or ARG', () => {
    const names = [...all('ENV'), ...all('ARG')].flatMap((args) =>
      [...args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!),
    );
    expect(names).toContain('KEYCTL_CONFIG');
    for (const name of names) {
      expect(SCRUBBED_ENV as readonly string[], name).not.toContain(name);
      for (const part of name.split('_'))
        expect(part, name).not.toMatch(/^(KEY|SECRET|TOKEN|PASS(WORD|PHRASE)?|CREDENTIALS?|AUTH|APIKEY)$/i);
    }
  });

  it('keeps stores, keys and clones out of the build context, and nothing the build copies', () => {
    const ignored = read('docker/Dockerfile.dockerignore')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    for (const pattern of ['**/.keyctl', '**/*.key', '**/.env', '.git', 'node_modules']) expect(ignored).toContain(pattern);
    const copied = all('COPY').flatMap((c) => (c.startsWith('--from') ? [] : c.split(/\s+/).slice(0, -1)));
    for (const source of copied) expect(ignored, source).not.toContain(source);
  });
});

// ---- Kubernetes -----------------------------------------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are checked field by field below */
describe('deploy/kubernetes', () => {
  const kustomization = load(read('kubernetes/kustomization.yaml'), { schema: CORE_SCHEMA }) as { resources: string[] };
  const objects: K8sObject[] = kustomization.resources.flatMap(
    (file) => loadAll(read(`kubernetes/${file}`), undefined, { schema: CORE_SCHEMA }) as K8sObject[],
  );
  const ofKind = (kind: string): any[] => objects.filter((o) => o.kind === kind);
  const [deployment] = ofKind('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('lists every manifest in the kustomization, and no object names a namespace', () => {
    const files = readdirSync(join(DEPLOY, 'kubernetes')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    for (const o of objects) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor'].sort(),
    );
  });

  it('runs two replicas and says why they need a shared Vault or AWS store and elect a leader', () => {
    expect(deployment.spec.replicas).toBe(2);
    const text = read('kubernetes/deployment.yaml');
    expect(text).toMatch(/Vault or AWS/);
    expect(text).toMatch(/local store[\s\S]*cannot be shared/);
    expect(text).toMatch(/leader/);
  });

  it('locks the pod down', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext.capabilities.add).toBeUndefined();
    expect(container.securityContext.privileged).not.toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
  });

  it('probes /healthz and /readyz on 9464, where the daemon listens', () => {
    const port = (p: number | string) => (typeof p === 'number' ? p : container.ports.find((cp: any) => cp.name === p)?.containerPort);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(port(container.livenessProbe.httpGet.port)).toBe(9464);
    expect(port(container.readinessProbe.httpGet.port)).toBe(9464);
    expect(container.args).toEqual(['daemon', '--config', '/etc/keyctl/keyctl.yaml', '--listen', '0.0.0.0:9464']);
  });

  it('configures a Vault store with kubernetes auth, in a keyctl.yaml keyctl itself accepts', () => {
    const [configMap] = ofKind('ConfigMap');
    const mount = container.volumeMounts.find((m: any) => m.mountPath === '/etc/keyctl');
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    expect(mount.readOnly).toBe(true);
    const { config } = parseConfig(configMap.data['keyctl.yaml'], '/etc/keyctl/keyctl.yaml');
    expect(config.store).toMatchObject({
      provider: 'vault',
      address: 'https://vault.example.invalid:8200',
      auth: { method: 'kubernetes', role: 'keyctl' },
    });
    // The audit log must land on a writable volume: the root filesystem is read-only.
    const writable = container.volumeMounts.filter((m: any) => !m.readOnly).map((m: any) => m.mountPath as string);
    expect(writable.some((dir: string) => config.auditPath.startsWith(`${dir}/`))).toBe(true);
  });

  it('holds no Secret: Vault kubernetes auth uses the service account the pod runs as', () => {
    expect(ofKind('Secret')).toEqual([]);
    const [account] = ofKind('ServiceAccount');
    expect(pod.serviceAccountName).toBe(account.metadata.name);
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(JSON.stringify(deployment)).not.toMatch(/secretKeyRef|secretRef|"secret":/);
  });

  it('exposes the metrics through a Service and a ServiceMonitor that select the daemon', () => {
    const [service] = ofKind('Service');
    const [monitor] = ofKind('ServiceMonitor');
    const podLabels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) expect(podLabels[k]).toBe(v);
    const servicePort = service.spec.ports[0];
    expect(servicePort.port).toBe(9464);
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[k]).toBe(v);
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: servicePort.name, path: '/metrics' })]);
    // KeyctlDown matches job="keyctl": the operator names the job after the Service.
    expect(service.metadata.name).toBe('keyctl');
  });
});
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---- metrics used by the alert rules and the dashboard ----------------------------------------------------------------

/** Each metric's label names, read from the exposition of an instance that has a series of every metric. */
async function registeredLabels(): Promise<Map<string, Set<string>>> {
  const m = new KeyctlMetrics({ version: '0.0.0-test' });
  m.setLeader(true);
  m.record({
    type: 'verification.result',
    ref: 'alpha/arb1',
    time: '2030-01-01T00:00:00.000Z',
    fingerprint: null,
    outcome: 'violation',
    violations: ['NOT_IP_LOCKED'],
  });
  m.setSchedule('alpha/arb1', { lastRotation: '2030-01-01T00:00:00.000Z', nextRotation: '2030-01-31T00:00:00.000Z' });
  m.observeExchangeCall('bybit', 'inspect', 0.1, 'RATE_LIMITED');
  m.alertResult('ops', 'failed');
  const labels = new Map<string, Set<string>>(m.metricNames().map((n) => [n, new Set<string>()]));
  for (const line of (await m.metricsText()).split('\n')) {
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!s || line.startsWith('#')) continue;
    const base = labels.has(s[1]!) ? s[1]! : s[1]!.replace(/_(bucket|sum|count)$/, '');
    for (const l of (s[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.get(base)!.add(l[1]!);
  }
  return labels;
}

/** Labels every scraped series has: Prometheus adds them. */
const TARGET_LABELS = ['instance', 'job'];

/** keyctl_* names in a PromQL expression. */
function metricsIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\bkeyctl_[a-zA-Z0-9_]+\b/g)].map((m) => m[0]))];
}

/** The registered metric a name in an expression refers to (histograms: `_bucket`, `_sum`, `_count`). */
function baseName(name: string, labels: Map<string, Set<string>>): string | undefined {
  if (labels.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && labels.has(base) ? base : undefined;
}

/** Checks an expression's metrics, label matchers and grouping labels against the registry; returns its labels. */
function checkExpr(expr: string, labels: Map<string, Set<string>>, where: string): Set<string> {
  const names = metricsIn(expr);
  expect(names.length, `${where}: uses no keyctl metric`).toBeGreaterThan(0);
  const available = new Set(TARGET_LABELS);
  for (const name of names) {
    const base = baseName(name, labels);
    expect(base, `${where}: ${name} is not a KeyctlMetrics metric`).toBeDefined();
    for (const l of labels.get(base!)!) available.add(l);
    if (name.endsWith('_bucket')) available.add('le');
  }
  const used = [
    ...[...expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim())),
    ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_]\w*)\s*[=!]~?/g)].map((l) => l[1]!)),
  ].filter((l) => l !== '');
  for (const l of used) expect(available, `${where}: label ${l}`).toContain(l);
  // Outcome values the rules match on must be ones the code emits.
  for (const m of expr.matchAll(/outcome="([^"]+)"/g)) expect([...ROTATION_OUTCOMES, ...ALERT_OUTCOMES], where).toContain(m[1]);
  return available;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}

describe('deploy/prometheus/keyctl-alerts.yaml', () => {
  const file = load(read('prometheus/keyctl-alerts.yaml'), { schema: CORE_SCHEMA }) as { groups: Array<{ name: string; rules: Rule[] }> };
  const rules = file.groups.flatMap((g) => g.rules);
  const byName = new Map(rules.map((r) => [r.alert, r]));
  const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

  it('has the alerts keyctl operators rely on', () => {
    const expected: Record<string, { expr: string; for?: string; severity: string }> = {
      KeyctlKeyViolation: { expr: 'keyctl_violations == 1', for: '0m', severity: 'critical' },
      KeyctlVerificationStale: { expr: 'time() - keyctl_verification_last_timestamp_seconds > 7200', severity: 'warning' },
      KeyctlNoLeader: { expr: 'max(keyctl_leader) == 0 or absent(keyctl_leader)', for: '5m', severity: 'critical' },
      KeyctlRotationFailures: { expr: 'increase(keyctl_rotations_total{outcome="failed"}[1h]) > 0', severity: 'warning' },
      KeyctlAlertDeliveryFailing: { expr: 'increase(keyctl_alerts_total{outcome="failed"}[15m]) > 0', severity: 'warning' },
      KeyctlDown: { expr: 'up{job="keyctl"} == 0', severity: 'critical' },
    };
    for (const [name, want] of Object.entries(expected)) {
      const rule = byName.get(name);
      expect(rule, name).toBeDefined();
      expect(squash(rule!.expr), name).toBe(want.expr);
      if (want.for !== undefined) expect(rule!.for, name).toBe(want.for);
      expect(rule!.labels.severity, name).toBe(want.severity);
    }
    expect(rules.length).toBe(new Set(rules.map((r) => r.alert)).size);
  });

  it('uses only metrics and labels KeyctlMetrics registers', async () => {
    const labels = await registeredLabels();
    for (const rule of rules) {
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(['info', 'warning', 'critical']).toContain(rule.labels.severity);
      if (rule.alert === 'KeyctlDown') continue; // `up` is Prometheus's own
      const available = checkExpr(rule.expr, labels, rule.alert);
      const text = `${rule.annotations.summary} ${rule.annotations.description ?? ''}`;
      for (const m of text.matchAll(/\$labels\.(\w+)/g)) expect(available, `${rule.alert}: $labels.${m[1]}`).toContain(m[1]);
    }
  });
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the dashboard model is checked field by field */
describe('deploy/grafana/keyctl-dashboard.json', () => {
  const dashboard = JSON.parse(read('grafana/keyctl-dashboard.json')) as any;
  const panels: any[] = dashboard.panels;

  it('is a dashboard of schema 39 with well-formed panels on a Prometheus data source variable', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('keyctl');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.gridPos, p.title).toEqual({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr, p.title).toEqual(expect.any(String));
    }
  });

  it('shows verification, violations, key age, rotations, exchange latency p95, alerts and leadership', () => {
    const exprs = panels.flatMap((p) => p.targets.map((t: any) => t.expr as string));
    const shows = (re: RegExp) => exprs.some((e) => re.test(e));
    expect(shows(/keyctl_verification_ok/)).toBe(true);
    expect(shows(/keyctl_violations\b/)).toBe(true);
    expect(shows(/keyctl_key_age_seconds/)).toBe(true);
    expect(shows(/keyctl_rotations_total/)).toBe(true);
    expect(shows(/histogram_quantile\(0\.95,.*keyctl_exchange_request_duration_seconds_bucket/)).toBe(true);
    expect(shows(/keyctl_alerts_total/)).toBe(true);
    expect(shows(/keyctl_leader/)).toBe(true);
  });

  it('uses only metrics and labels KeyctlMetrics registers', async () => {
    const labels = await registeredLabels();
    for (const p of panels) {
      for (const t of p.targets) {
        if (/^sum\(up\{job="keyctl"\}\)$/.test(t.expr)) continue; // Prometheus's own
        const available = checkExpr(t.expr, labels, p.title);
        for (const m of String(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g))
          expect(available, `${p.title}: ${m[1]}`).toContain(m[1]);
      }
    }
  });
});
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---- credentials ----------------------------------------------------------------------------------------------------

/** Values that say they are not real. */
const PLACEHOLDER = /example|fake|placeholder|changeme|dummy|not-a-real|<[^>]*>|\$\{?[A-Za-z_(]/i;

/** Shapes of real credentials: what a file under deploy/ must never hold. Returns a description of each find. */
function credentialsIn(text: string): string[] {
  const found: string[] = [];
  const shapes: Array<[string, RegExp]> = [
    ['a PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ['an AWS access key id', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
    ['a Vault token', /\bhv[sbr]\.[A-Za-z0-9_-]{20,}/],
    ['a JWT', /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./],
    ['a Slack webhook', /hooks\.slack\.com\/services\/T[A-Z0-9]+\/B[A-Z0-9]+\/[A-Za-z0-9]+/],
    ['a 32-byte base64 key (a keyctl master key)', /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=/],
    ['a long hex string', /\b[0-9a-f]{40,}\b/i],
    ['URL credentials', /[a-z]+:\/\/[^/\s:@]+:[^/\s@]+@/i],
  ];
  for (const [what, re] of shapes) if (re.test(text)) found.push(what);
  // `password: hunter2-ish`, `VAULT_TOKEN=...`: a secret-named setting given a literal value.
  const named = new RegExp(
    `\\b(password|passwd|secret|token|api[_-]?key|passphrase|private[_-]?key|${SCRUBBED_ENV.filter((n) => !n.endsWith('_FILE')).join('|')})["']?\\s*[:=]\\s*["']?([^\\s"',}]{6,})`,
    'gi',
  );
  for (const m of text.matchAll(named)) if (!PLACEHOLDER.test(m[2]!)) found.push(`${m[1]} set to a literal`);
  return found;
}

describe('deploy/: no credentials', () => {
  it('finds the shapes it looks for (the scanner is not blind)', () => {
    const plants = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'aws_key: AKIAABCDEFGHIJKLMNOP',
      'token: hvs.CAESIJ1xLkq2Z3w4e5r6t7y8u9i0oPaS',
      'KEYCTL_MASTER_KEY=q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0xcv=',
      'VAULT_TOKEN=s.abcdefghijkl',
      'password: correcthorsebattery',
      'url: https://admin:hunter22@vault.internal',
    ];
    for (const plant of plants) expect(credentialsIn(plant), plant).not.toEqual([]);
    for (const fine of ['role: keyctl', 'token: ${VAULT_TOKEN}', 'password: <your password>', 'secret: fake-placeholder-value']) {
      expect(credentialsIn(fine), fine).toEqual([]);
    }
  });

  it('holds nothing shaped like a real credential in any file', () => {
    const files = filesUnder(DEPLOY);
    expect(files.length).toBeGreaterThan(8);
    for (const file of files) expect(credentialsIn(readFileSync(file, 'utf8')), relative(ROOT, file)).toEqual([]);
  });
});
