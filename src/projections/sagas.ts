/**
 * The ids of the messages actors send each other, derived from the command that caused them: a
 * message is inserted with its id (unique in the inbox), so a decision retried after a crash can never
 * send it twice, and anyone can name a saga's messages without reading them (the intake waits for a
 * departure's shipments by these ids).
 */
export const messageIds = {
  /** To a truck: a place for the shipment whose command this is (or the release of its place). */
  load: (cause: string) => `${cause}.load`,
  unload: (cause: string) => `${cause}.unload`,
  confirm: (cause: string) => `${cause}.confirm`,
  release: (cause: string) => `${cause}.release`,
  /** The truck's answer to a load or unload. */
  reply: (request: string) => `${request}.reply`,
  /** A departure that waited for held places: the truck's message to itself once they are settled. */
  departNow: (depart: string) => `${depart}.depart-now`,
  /** A departure ships one shipment. */
  ship: (depart: string, shipmentId: string) => `${depart}.ship.${shipmentId}`,
}
