import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

// `.openapi(...)` on the schemas below names them in /openapi.json; the extension must run before
// any schema module calls it, so every schema module imports this one first.
extendZodWithOpenApi(z);
