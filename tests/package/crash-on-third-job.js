// Imported before the real worker, so this listener runs first and the worker never sees
// the job it dies on.
let serial = -1;
let jobs = 0;
addEventListener('message', (event) => {
  if (event.data.type === 'init') serial = event.data.serial;
  if (event.data.type === 'job' && serial === 0 && ++jobs === 3) {
    event.stopImmediatePropagation();
    throw new Error('simulated crash');
  }
});
