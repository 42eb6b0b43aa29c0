// The baseline of the performance bar: a bare Express 5 app returning a small JSON body.
import express from 'express';

const app = express();
app.get('/ping', (_req, res) => {
  res.json({ ok: true, id: '6f9619ff-8b86-4011-b42d-00c04fc964ff', name: 'bare' });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
