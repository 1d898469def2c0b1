/** `metabroker serve [config.toml]`: the broker itself, loaded only for this command. */
export async function serve(configFile: string | undefined): Promise<void> {
  const { serveBroker } = await import('../../main.js');
  serveBroker(configFile === undefined ? [] : [configFile]);
}
