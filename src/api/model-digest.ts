/**
 * A model file's digest as the resource (`spec.model.digest`) and `karb serve --model-digest` write
 * it: `sha256:` and the 64 lowercase hex digits `sha256sum` prints. One grammar and one message for both.
 */
export const MODEL_DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export const MODEL_DIGEST_FORMAT = 'must be sha256: followed by 64 lowercase hex digits: sha256:<the hash `sha256sum model.onnx` prints>';
