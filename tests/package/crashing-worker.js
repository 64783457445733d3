// The package's worker, except that the pool's first worker dies on its third job: an
// uncaught error, as when a worker runs out of memory. For the analyzeMany test.
import './crash-on-third-job.js';
import '/genderlens/worker.js';
