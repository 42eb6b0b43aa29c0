import * as pulumi from '@pulumi/pulumi';

/**
 * The plain config values of one Pulumi project (its `project:` namespace only, without the
 * project prefix), leaving out the keys set as secrets. Both programs read their config this way.
 */
export function projectConfigValues(
  project: string,
  exclude: readonly string[] = [],
): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    const [ns, name] = key.split(':');
    if (ns === project && name && !exclude.includes(name)) values[name] = value;
  }
  return values;
}
