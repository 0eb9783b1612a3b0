import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { MASK, maskChunk, maskNeedles, MaskStream } from '../../src/delivery/mask.js';

const SECRET = 'FAKE-secret-0123456789abcdef';
const KEY = 'FAKE-apikey-XYZ';
const forms = (s: string) => {
  const b = Buffer.from(s);
  return [s, b.toString('base64'), b.toString('base64url'), b.toString('hex'), b.toString('hex').toUpperCase()];
};

async function through(chunks: Array<string | Buffer>, needles = maskNeedles([SECRET, KEY])): Promise<string> {
  const mask = new MaskStream(needles);
  const sink = new PassThrough();
  const out: Buffer[] = [];
  sink.on('data', (d: Buffer) => out.push(d));
  mask.pipe(sink);
  for (const c of chunks) mask.write(c);
  mask.end();
  await new Promise((r) => sink.on('end', r));
  return Buffer.concat(out).toString('utf8');
}

describe('maskNeedles', () => {
  it('covers plain, base64 (padded and not), base64url and hex forms, longest first, skipping short values', () => {
    const needles = maskNeedles([SECRET, 'abc', undefined]).map((b) => b.toString());
    for (const f of forms(SECRET)) expect(needles).toContain(f);
    expect(needles).toContain(Buffer.from(SECRET).toString('base64').replace(/=+$/, ''));
    expect(needles.some((n) => n === 'abc')).toBe(false);
    const lengths = needles.map((n) => n.length);
    expect([...lengths].sort((a, b) => b - a)).toEqual(lengths);
  });
});

describe('MaskStream', () => {
  it('masks every form of the secret and the key in one chunk', async () => {
    const text = `${forms(SECRET).join(' | ')} key=${KEY}\n`;
    const out = await through([text]);
    for (const f of [...forms(SECRET), KEY]) expect(out).not.toContain(f);
    expect(out.split(MASK).length - 1).toBe(6);
  });

  it('masks a secret split at every possible chunk boundary', async () => {
    const text = `before ${SECRET} after`;
    for (let cut = 1; cut < text.length; cut++) {
      const out = await through([text.slice(0, cut), text.slice(cut)]);
      expect(out).toBe(`before ${MASK} after`);
    }
  });

  it('masks a base64 secret written one byte at a time', async () => {
    const b64 = Buffer.from(SECRET).toString('base64');
    const out = await through([...`x${b64}y`].map((c) => Buffer.from(c)));
    expect(out).toBe(`x${MASK}y`);
  });

  it('holds back only a tail that could start a secret, so ordinary output is not delayed', () => {
    const needles = maskNeedles([SECRET]);
    const plain = maskChunk(Buffer.from('status: ok\n'), needles, Buffer.from(MASK), false);
    expect(plain.out.toString()).toBe('status: ok\n');
    expect(plain.held.length).toBe(0);
    const partial = maskChunk(Buffer.from(`log ${SECRET.slice(0, 9)}`), needles, Buffer.from(MASK), false);
    expect(partial.out.toString()).toBe('log ');
    expect(partial.held.toString()).toBe(SECRET.slice(0, 9));
  });

  it('releases a held tail that turned out not to be a secret, at the next chunk or at the end', async () => {
    expect(await through([`x ${SECRET.slice(0, 9)}`, ' nope\n'])).toBe(`x ${SECRET.slice(0, 9)} nope\n`);
    expect(await through([`x ${SECRET.slice(0, 9)}`])).toBe(`x ${SECRET.slice(0, 9)}`);
  });

  it('keeps multi-byte UTF-8 intact across chunk boundaries', async () => {
    const text = Buffer.from('prix: 12€ — ok ✓\n');
    expect(await through([text.subarray(0, 10), text.subarray(10)])).toBe('prix: 12€ — ok ✓\n');
  });

  it('applies secrets added later (a rotated key) to what follows', async () => {
    const mask = new MaskStream(maskNeedles([KEY]));
    const chunks: string[] = [];
    mask.on('data', (d: Buffer) => chunks.push(d.toString()));
    mask.write(`a ${SECRET}\n`);
    mask.setNeedles(maskNeedles([KEY, SECRET]));
    mask.write(`b ${SECRET}\n`);
    mask.end();
    await new Promise((r) => mask.on('end', r));
    expect(chunks.join('')).toBe(`a ${SECRET}\nb ${MASK}\n`);
  });
});
