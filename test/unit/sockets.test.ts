// The socket table `netlab test` reads to credit an answer to the host that accepted it.
import { describe, expect, it } from 'vitest';
import { socketPorts } from '../../src/assert/sockets.js';

describe('socketPorts', () => {
  it('reads local and remote ports and the state of /proc/net/tcp6 and tcp lines, skipping the header', () => {
    const tcp6 = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 286380 1 0000000070f43c70 100 0 0 10 0',
      '   1: 0000000000000000FFFF00000200000A:0050 0000000000000000FFFF00000100000A:B9CA 01 00000000:00000000 00:00000000 00000000     0        0 287730 1 00000000fc27cb88 20 0 0 10 -1',
    ].join('\n');
    expect(socketPorts(tcp6)).toEqual([
      { local: 80, remote: 0, state: '0A', inode: '286380' },
      { local: 80, remote: 47562, state: '01', inode: '287730' },
    ]);
    const tcp =
      '  sl  local_address rem_address   st\n  12: 0200000A:1F90 6400000A:d431 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n';
    expect(socketPorts(tcp)).toEqual([{ local: 8080, remote: 54321, state: '06', inode: '0' }]);
  });
});
