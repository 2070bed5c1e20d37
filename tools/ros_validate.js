// Check ROS resources against the resource types' own property schemas and validators.
//
//   node tools/ros_validate.js < resources.json
//
// Input: {"<logical id>": {"Type": "ALIYUN::<Service>::<Name>", "Properties": {...}}, ...}.
// Output (stdout): a JSON list of problems, one sentence each; empty when every resource is fine.
//
// The ROS CDK packages (@alicloud/ros-cdk-<service>, pinned in package.json) are generated from
// ROS's resource type specifications: each `Ros<Name>` class renders its properties through a
// validator that checks required properties, types and allowed values (e.g. a TrafficControl's
// TrafficControlUnit is one of MINUTE, HOUR, DAY). We build each resource with those validators
// switched on and render it; anything they reject is a problem. A property that the type does not
// have is silently dropped by the renderer, so every input key missing from the rendered output is
// reported as unknown. Intrinsic functions (Ref, Fn::*) are left to ROS: the validators skip them.
//
// Some types' validators check less than ROS does: an ALIYUN::ApiGateway::Plugin's PluginType and
// PluginData are only required strings here (a PluginData given as Fn::Sub is skipped, as every
// intrinsic is). tools/frontdoor.py checks the type's value, the name and the body.
'use strict';

const ros = require('@alicloud/ros-cdk-core');

function isIntrinsic(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'));
}

// ROS property names are the CDK's with the first letter upper-cased (ApiDefault <-> apiDefault).
function toCdk(value) {
  if (Array.isArray(value)) return value.map(toCdk);
  if (value === null || typeof value !== 'object' || isIntrinsic(value)) return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key.charAt(0).toLowerCase() + key.slice(1)] = toCdk(inner);
  }
  return out;
}

// Input keys (at any depth) that the rendered template does not carry: not part of the type.
function unknownKeys(input, rendered, path, out) {
  if (Array.isArray(input)) {
    input.forEach((item, i) =>
      unknownKeys(item, Array.isArray(rendered) ? rendered[i] : undefined, `${path}[${i}]`, out));
    return out;
  }
  if (input === null || typeof input !== 'object' || isIntrinsic(input)) return out;
  for (const [key, inner] of Object.entries(input)) {
    const where = path ? `${path}.${key}` : key;
    if (rendered === null || typeof rendered !== 'object' || !(key in rendered)) {
      out.push(where);
    } else {
      unknownKeys(inner, rendered[key], where, out);
    }
  }
  return out;
}

function resourceClass(type) {
  const m = /^ALIYUN::([A-Za-z0-9]+)::([A-Za-z0-9]+)$/.exec(type);
  if (!m) return [null, `type ${type} is not an ALIYUN:: resource type`];
  const pkg = `@alicloud/ros-cdk-${m[1].toLowerCase()}`;
  let mod;
  try {
    mod = require(pkg);
  } catch (e) {
    return [null, `no schema for ${type}: ${pkg} is not installed (pin it in package.json)`];
  }
  const cls = mod[`Ros${m[2]}`];
  if (!cls || cls.ROS_RESOURCE_TYPE_NAME !== type) {
    return [null, `${type} is not a resource type of ${pkg} (misspelt?)`];
  }
  return [cls, null];
}

function check(resources) {
  const problems = [];
  const app = new ros.App();
  const stack = new ros.Stack(app, 'check');
  for (const [id, resource] of Object.entries(resources)) {
    const type = resource.Type;
    const props = resource.Properties || {};
    const [cls, error] = resourceClass(type);
    if (error) {
      problems.push(`${id}: ${error}`);
      continue;
    }
    let rendered;
    try {
      const construct = new cls(stack, id, toCdk(props), true);
      rendered = stack.resolve(construct._toRosTemplate()).Resources[id].Properties || {};
    } catch (e) {
      // The first lines name the type and each rejected property; the rest is a JS stack.
      const lines = String(e.message).split('\n').filter((l) => l.trim() && !/^\s*at |Object creation stack/.test(l));
      problems.push(`${id} (${type}): ${lines.map((l) => l.trim()).join(' ').replace(/^Resolution error: /, '')}`);
      continue;
    }
    for (const key of unknownKeys(props, rendered, '', [])) {
      problems.push(`${id} (${type}): unknown property ${key}`);
    }
  }
  return problems;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(check(JSON.parse(input || '{}'))) + '\n');
});
