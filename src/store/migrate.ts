import type { Migration, Sql } from './sql.js'

/**
 * Applies the migrations not yet recorded in `migrations`, each in its own write transaction, in list
 * order. Processes starting at once are safe: each re-reads what was applied inside the write lock.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[]): Promise<string[]> {
  const table =
    sql.dialect === 'sqlite'
      ? 'CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT'
      : 'CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)'
  const applied = await sql.write(async (tx) => {
    await tx.exec(table)
    return new Set((await tx.all<{ id: string }>('SELECT id FROM migrations')).map((row) => row.id))
  })
  const done: string[] = []
  for (const migration of migrations) {
    const text = migration[sql.dialect]
    if (text === null || applied.has(migration.id)) continue
    const ran = await sql.write(async (tx) => {
      if (await tx.get('SELECT 1 FROM migrations WHERE id = @id', { id: migration.id })) return false
      await tx.exec(text)
      await tx.run('INSERT INTO migrations (id, applied_at) VALUES (@id, @at)', { id: migration.id, at: Date.now() })
      return true
    })
    if (ran) done.push(migration.id)
  }
  return done
}

/** Migrations of this version not applied to the database (a read; nothing changes). */
export async function missingMigrations(sql: Sql, migrations: readonly Migration[]): Promise<string[]> {
  const exists =
    sql.dialect === 'sqlite'
      ? await sql.get("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'")
      : await sql.get("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'migrations'")
  const applied = new Set(exists ? (await sql.all<{ id: string }>('SELECT id FROM migrations')).map((row) => row.id) : [])
  return migrations.filter((m) => m[sql.dialect] !== null && !applied.has(m.id)).map((m) => m.id)
}
