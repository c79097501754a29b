import ort from 'onnxruntime-node';

// ONNX Runtime's warnings (unused initializers, thread affinity) are noise to our users.
ort.env.logLevel = 'error';

export { ort };
