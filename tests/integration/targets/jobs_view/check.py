"""Checks of the fleet view's report: python check.py REPORT WHAT."""
import json
import sys

rows = json.load(open(sys.argv[1]))
what = sys.argv[2]
by_host = {}
for row in rows:
    by_host.setdefault(row['host'], []).append(row)
assert {'host', 'jid', 'key', 'state'} <= set().union(*rows), rows


def keys(host, state=None):
    return sorted(row['key'] or '-' for row in by_host[host] if state is None or row['state'] == state)


if what == 'all':
    assert sorted(by_host) == ['gone', 'host1', 'host2', 'host3'], sorted(by_host)
    assert [row['state'] for row in by_host['gone']] == ['unreachable'], by_host['gone']
    for host in ('host1', 'host2', 'host3'):
        assert keys(host) == ['-', '-', 'batch-' + host, 'nightly-' + host, 'other-' + host], keys(host)
        batch = next(row for row in by_host[host] if row['key'] == 'batch-' + host)
        assert batch['items'] == {'done': 2, 'total': 3} and batch['state'] == 'running', batch
        secret = next(row for row in by_host[host] if row['no_log'])
        assert secret['last_line'] is None and secret['state'] == 'running', secret
        nightly = next(row for row in by_host[host] if row['key'] == 'nightly-' + host)
        assert nightly['last_line'] == 'nightly started on ' + host, nightly
        assert nightly['task'] == 'A nightly job, keyed per host' and nightly['user'] and nightly['controller'], nightly
        done = next(row for row in by_host[host] if row['state'] == 'succeeded')
        assert done['last_line'] == 'done here', done
elif what == 'killed':
    assert sorted(by_host) == ['host1', 'host2', 'host3'], sorted(by_host)
    for host in by_host:
        assert [(row['key'], row['state'], row.get('stopped')) for row in by_host[host]] == [
            ('nightly-' + host, 'killed', True)], by_host[host]
elif what == 'after':
    for host in ('host1', 'host2', 'host3'):
        assert keys(host, 'killed') == ['nightly-' + host], by_host[host]
        assert keys(host, 'running') == ['-', 'batch-' + host, 'other-' + host], by_host[host]
elif what == 'running-only':
    assert all(row['state'] in ('running', 'unreachable') for row in rows), rows
else:
    raise SystemExit('unknown check %s' % what)
print('%s: %d rows as expected' % (what, len(rows)))
