/** Unix seconds: the clock failure reports and their expiry use. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
