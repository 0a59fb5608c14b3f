// resolv.conf to the CNI result's "dns" object, as host-local's resolvConf option does.
import { readFileSync } from 'node:fs';
import { KprError } from '../lib/errors.ts';
import { IpamError } from './errors.ts';

export interface IpamDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export function parseResolvConf(text: string): IpamDNS {
  const dns: IpamDNS = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (!key || values.length === 0) continue;
    if (key === 'nameserver') (dns.nameservers ??= []).push(values[0]!);
    else if (key === 'domain') dns.domain = values[0]!;
    else if (key === 'search') (dns.search ??= []).push(...values);
    else if (key === 'options') (dns.options ??= []).push(...values);
  }
  return dns;
}

export function readResolvConf(file: string): IpamDNS {
  try {
    return parseResolvConf(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new IpamError('INVALID_CONFIG', 'cannot read resolvConf', { object: file, cause: err });
  }
}
