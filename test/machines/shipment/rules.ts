import type { StateName } from '../../../machines/shipment/index.js'

/**
 * The rules of docs/api.md written out by hand: the oracle the machine tests compare against (never derived
 * from the machine, so a change to the machine that breaks a rule fails a test).
 */
export const allowedByState: Readonly<Record<StateName, readonly string[]>> = {
  unregistered: ['REGISTER'],
  registered: ['ASSIGN', 'CANCEL'],
  assigned: ['ASSIGN', 'UNASSIGN', 'SHIP', 'CANCEL'],
  shipped: ['DELIVER'],
  delivered: [],
  cancelled: [],
}
