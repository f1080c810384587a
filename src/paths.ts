// Where things are: the package (templates, the HAProxy `npm test` builds) and the image's paths.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package's root directory (where templates/ lives): compiled code runs from dist/src. */
export const PACKAGE_ROOT = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '../..') : path.resolve(HERE, '..');

/**
 * The HAProxy a checkout runs by default: the one `npm test` builds (test/build-haproxy.sh), which keeps
 * `maxconn 1` under bursts, when it is there; otherwise `haproxy` on PATH (the image's own).
 */
const BUILT_HAPROXY = path.join(PACKAGE_ROOT, '.deps', 'bin', 'haproxy');
export const DEFAULT_HAPROXY_BIN = existsSync(BUILT_HAPROXY) ? BUILT_HAPROXY : 'haproxy';

/** Paths inside the image; the Dockerfile creates these directories for the non-root user. */
export const IMAGE_DEFAULTS = {
  haproxyConfig: '/usr/local/etc/haproxy/haproxy.cfg',
  runDir: '/var/run/rtmp-proxy',
};
