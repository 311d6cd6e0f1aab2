// Runs a Zabbix webhook media type script the way Zabbix does: the script is the body of a
// function of `value` (the parameters as a JSON string), with Zabbix's HttpRequest and
// Zabbix.log objects in scope. HttpRequest is synchronous in Zabbix; here each request runs in
// a child node process. Usage: node zabbix_harness.js SCRIPT_FILE PARAMS_JSON_FILE
'use strict';
const fs = require('fs');
const { spawnSync } = require('child_process');

const FETCH = `
const [url, headers, body] = JSON.parse(process.argv[1]);
fetch(url, { method: 'POST', headers, body })
  .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))
  .catch((e) => process.stdout.write(JSON.stringify({ status: 0, body: String(e) })));
`;

function HttpRequest() {
  this.headers = {};
  this.status = 0;
}
HttpRequest.prototype.addHeader = function (line) {
  const at = line.indexOf(':');
  this.headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
};
HttpRequest.prototype.setProxy = function () {};
HttpRequest.prototype.post = function (url, body) {
  const child = spawnSync(process.execPath, ['-e', FETCH, JSON.stringify([url, this.headers, body])],
    { encoding: 'utf8', timeout: 15000 });
  const answer = JSON.parse(child.stdout || '{"status":0,"body":"no answer"}');
  this.status = answer.status;
  return answer.body;
};
HttpRequest.prototype.getStatus = function () { return this.status; };

const logs = [];
const Zabbix = { log: (level, message) => logs.push([level, message]) };

const script = fs.readFileSync(process.argv[2], 'utf8');
const params = fs.readFileSync(process.argv[3], 'utf8');
let outcome;
try {
  const result = new Function('value', 'HttpRequest', 'Zabbix', script)(params, HttpRequest, Zabbix);
  outcome = { ok: true, result: result, logs: logs };
} catch (error) {
  outcome = { ok: false, error: String(error), logs: logs };
}
process.stdout.write(JSON.stringify(outcome));
