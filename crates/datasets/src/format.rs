//! Constants of the CIFAR-10 binary format.

/// Height and width of every image, in pixels.
pub const IMAGE_SIZE: usize = 32;
/// Number of colour channels (R, G, B).
pub const CHANNELS: usize = 3;
/// Bytes in one colour plane (`32 * 32`).
pub const PLANE_BYTES: usize = IMAGE_SIZE * IMAGE_SIZE;
/// Bytes in one image (`3 * 32 * 32` = 3072), CHW order.
pub const IMAGE_BYTES: usize = CHANNELS * PLANE_BYTES;
/// Bytes in one record: the label byte, then the image (3073).
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of CIFAR-10 classes.
pub const NUM_CLASSES: usize = 10;
/// The official CIFAR-10 class names, indexed by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
