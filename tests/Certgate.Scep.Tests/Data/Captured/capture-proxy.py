#!/usr/bin/env python3
"""Capture proxy for SCEP pkiMessages: listens on 127.0.0.1:LISTEN, forwards every request to UPSTREAM unchanged,
and writes each PKIOperation body (POST body, or GET 'message' parameter decoded) to OUTDIR/NNN-<client>.der.
usage: capture-proxy.py LISTEN UPSTREAM_BASE OUTDIR CLIENT_LABEL"""
import base64, http.server, sys, urllib.parse, urllib.request, urllib.error, os, itertools
listen, upstream, outdir, label = int(sys.argv[1]), sys.argv[2].rstrip('/'), sys.argv[3], sys.argv[4]
counter = itertools.count(1)
class H(http.server.BaseHTTPRequestHandler):
    def _go(self, body):
        q = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(q.query)
        if params.get('operation', [''])[0].lower() == 'pkioperation':
            der = body if self.command == 'POST' else base64.b64decode(params['message'][0].replace(' ', '+'))
            with open(os.path.join(outdir, '%03d-%s.der' % (next(counter), label)), 'wb') as f:
                f.write(der)
        req = urllib.request.Request(upstream + self.path, data=body if self.command == 'POST' else None, method=self.command,
                                     headers={k: v for k, v in self.headers.items() if k.lower() in ('content-type',)})
        try:
            r = urllib.request.urlopen(req, timeout=30); status, data, ctype = r.status, r.read(), r.headers.get('Content-Type')
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get('Content-Type')
        self.send_response(status)
        if ctype: self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_GET(self): self._go(None)
    def do_POST(self): self._go(self.rfile.read(int(self.headers.get('Content-Length', 0))))
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', listen), H).serve_forever()
