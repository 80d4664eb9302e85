/**
 * Partitions: a shipment's commands always travel on one partition, so one consumer sees them in
 * order. `partitionOf` is the only place that maps a stream to its partition (FNV-1a, stable across
 * processes and versions: changing it would reorder in-flight commands).
 */
export function partitionOf(streamId: string, partitions: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % partitions
}

/** The bee-queue name of a partition (keys are `<installation prefix>:<name>:…`). */
export function partitionQueueName(partition: number): string {
  return `partition-${partition}`
}

