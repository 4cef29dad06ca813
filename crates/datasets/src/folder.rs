//! Image-folder data sets in the ImageNet layout, `root/<class>/<image>.jpeg|jpg|png`,
//! decoded lazily, batch by batch.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;

use burn::tensor::backend::Backend;
use image::{ImageReader, RgbImage};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::batcher::ImageBatch;
use crate::dataset::{ImageDataset, Mode, check_indices, make_batch};
use crate::error::{DataError, Result};
use crate::imagenet_transform::FolderTransform;
use crate::io;
use crate::transform::Normalization;

/// File extensions taken as images (compared without regard to case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpeg", "jpg", "png"];

/// A labelled image folder: one sub-folder per class, classes sorted by folder name, files
/// sorted by name within a class. Only paths are held; images are decoded when a batch is
/// built, on as many threads as the machine has cores.
///
/// Sub-folders and files whose names start with `.` are skipped, as are files in `root`
/// itself and files with other extensions.
#[derive(Clone)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    files: Vec<PathBuf>,
    labels: Vec<usize>,
    transform: FolderTransform,
}

impl fmt::Debug for ImageFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageFolder")
            .field("root", &self.root)
            .field("classes", &self.classes.len())
            .field("len", &self.files.len())
            .field("transform", &self.transform)
            .finish()
    }
}

impl ImageFolder {
    /// Lists the classes and image files under `root`, with [`FolderTransform::IMAGENET`].
    ///
    /// Fails if `root` is missing or not a folder, holds no class folder, a class folder
    /// holds no image file, or an entry named like an image (`.jpeg`, `.jpg`, `.png`) is
    /// not a readable regular file. Other entries (files with other extensions, nested
    /// folders, names starting with `.`) are left out. Image contents are not read here.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        io::check_folder(root, "an image folder: root/<class>/<image>.jpeg|jpg|png")?;
        let classes = list(root, |p| p.is_dir())?;
        if classes.is_empty() {
            return Err(DataError::NoClasses { path: root.into() });
        }

        let (mut names, mut files, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for (label, dir) in classes.into_iter().enumerate() {
            let images = list(&dir, is_image)?;
            // A folder, pipe or broken link named like an image is refused, not left out.
            for image in &images {
                io::check_file(image, "a JPEG or PNG image")?;
            }
            if images.is_empty() {
                return Err(DataError::EmptyClass { path: dir });
            }
            labels.extend(std::iter::repeat_n(label, images.len()));
            files.extend(images);
            names.push(file_name(&dir));
        }
        log::debug!(
            "found {} images in {} classes under {}",
            files.len(),
            names.len(),
            root.display()
        );
        Ok(Self {
            root: root.into(),
            classes: names,
            files,
            labels,
            transform: FolderTransform::IMAGENET,
        })
    }

    /// The same data set with another transform (for example smaller sizes for tests).
    pub fn with_transform(mut self, transform: FolderTransform) -> Self {
        self.transform = transform;
        self
    }

    /// The transform used by [`ImageDataset::batch`].
    pub fn transform(&self) -> &FolderTransform {
        &self.transform
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names (folder names), indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.classes
    }

    /// Image paths, in order (by class, then by file name).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Labels, one per file.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The statistics a model should normalise these images with
    /// ([`Normalization::IMAGENET`]).
    pub fn normalization(&self) -> Normalization {
        Normalization::IMAGENET
    }

    /// The images at `indices`, in that order (same classes).
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        check_indices(indices, self.files.len())?;
        Ok(Self {
            root: self.root.clone(),
            classes: self.classes.clone(),
            files: indices.iter().map(|&i| self.files[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            transform: self.transform,
        })
    }

    /// Reads the header of every image (its format and size, not its pixels) and names
    /// the first file that is not a JPEG or PNG image, so that such a file stops a run
    /// before it starts rather than when its batch comes. A file whose header is sound but
    /// whose pixel data is damaged is still found only when it is decoded.
    pub fn check_headers(&self) -> Result<()> {
        for path in &self.files {
            let (width, height) = reader(path)?
                .into_dimensions()
                .map_err(|e| image_error(path, e.to_string()))?;
            if width == 0 || height == 0 {
                return Err(image_error(path, format!("it is {width}x{height} pixels")));
            }
        }
        Ok(())
    }

    /// Decodes image `index` as 8-bit RGB.
    pub fn decode(&self, index: usize) -> Result<RgbImage> {
        check_indices(&[index], self.files.len())?;
        decode(&self.files[index])
    }

    /// Decodes and transforms one image into `out`; `seed` drives its augmentation.
    fn render(&self, index: usize, seed: Option<u64>, out: &mut [f32]) -> Result<()> {
        let image = decode(&self.files[index])?;
        match seed {
            Some(seed) => {
                let mut rng = StdRng::seed_from_u64(seed);
                self.transform.train(&image, &mut rng, out);
            }
            None => self.transform.eval(&image, out),
        }
        Ok(())
    }
}

/// Image-folder batches. [`Mode::Train`]: random-resized crop to `train_size`, flip and
/// colour jitter ([`FolderTransform`]); [`Mode::Eval`]: resize and centre crop to
/// `eval_crop`.
///
/// In training, one `u64` is drawn from `rng` per image, in index order, and seeds that
/// image's own generator, so the result does not depend on how many threads decode. In
/// evaluation `rng` is not touched. An image that cannot be decoded fails the batch with
/// [`DataError::Image`] naming the file (the first such file in `indices` order).
impl ImageDataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn num_classes(&self) -> usize {
        self.classes.len()
    }

    fn label(&self, index: usize) -> usize {
        self.labels.get(index).copied().unwrap_or(0)
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        check_indices(indices, self.files.len())?;
        let train = mode == Mode::Train;
        let size = self.transform.output_size(train);
        let jobs: Vec<(usize, Option<u64>)> = indices
            .iter()
            .map(|&i| (i, train.then(|| rng.next_u64())))
            .collect();

        let image_len = 3 * size * size;
        let mut pixels = vec![0f32; jobs.len() * image_len];
        self.render_all(&jobs, image_len, &mut pixels)?;
        let labels: Vec<usize> = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(make_batch(pixels, &labels, [size, size], device))
    }
}

impl ImageFolder {
    /// Renders every job into its slot of `pixels`, spreading jobs over threads.
    fn render_all(
        &self,
        jobs: &[(usize, Option<u64>)],
        image_len: usize,
        pixels: &mut [f32],
    ) -> Result<()> {
        if jobs.is_empty() || image_len == 0 {
            return Ok(());
        }
        let threads = thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = jobs.len().div_ceil(threads.min(jobs.len()));
        let results: Vec<Result<()>> = thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(per_thread)
                .zip(pixels.chunks_mut(per_thread * image_len))
                .map(|(chunk, out)| {
                    scope.spawn(move || {
                        for (&(index, seed), slot) in chunk.iter().zip(out.chunks_mut(image_len)) {
                            self.render(index, seed, slot)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                .collect()
        });
        results.into_iter().collect()
    }
}

fn panicked() -> DataError {
    DataError::Image {
        path: PathBuf::new(),
        reason: "an image decoding thread panicked".into(),
    }
}

fn image_error(path: &Path, reason: String) -> DataError {
    DataError::Image {
        path: path.to_path_buf(),
        reason,
    }
}

/// Opens one file as an image, its format guessed from its contents.
fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<fs::File>>> {
    let reader = ImageReader::open(path)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| image_error(path, e.to_string()))?;
    if reader.format().is_none() {
        return Err(image_error(
            path,
            "the contents are neither JPEG nor PNG".into(),
        ));
    }
    Ok(reader)
}

/// Decodes one file as 8-bit RGB, guessing the format from its contents.
fn decode(path: &Path) -> Result<RgbImage> {
    let image = reader(path)?
        .decode()
        .map_err(|e| image_error(path, e.to_string()))?;
    Ok(image.into_rgb8())
}

/// The entries of `dir` that pass `keep`, sorted by name, skipping names starting with `.`.
fn list(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let io_error = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if !file_name(&path).starts_with('.') && keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}
