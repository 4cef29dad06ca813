//! Image folders: class discovery, lazy decoding, the ImageNet transforms and every
//! malformed input. Images are small PNG and JPEG files written into a temporary folder.

mod common;

use std::path::Path;

use common::{Cpu, cpu, pixels, says, targets, temp, write};
use datasets::{
    CropWindow, DataError, FolderTransform, ImageDataset, ImageFolder, Mode, Normalization,
    random_resized_crop,
};
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Pixel (x, y) = (10 x, 20 y, 7) with a per-image offset.
fn gradient(w: u32, h: u32, offset: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(10 * x) as u8 + offset, (20 * y) as u8, 7])
    })
}

fn save(dir: &Path, class: &str, name: &str, image: &RgbImage) {
    let folder = dir.join(class);
    std::fs::create_dir_all(&folder).expect("mkdir");
    image.save(folder.join(name)).expect("save image");
}

/// Two classes, `b_cat` (2 images) and `a_dog` (2 images), plus files to ignore.
fn sample(dir: &Path) {
    save(dir, "b_cat", "x.PNG", &gradient(8, 4, 1));
    save(dir, "b_cat", "y.jpeg", &gradient(12, 9, 0));
    save(dir, "a_dog", "2.jpg", &gradient(10, 10, 0));
    save(dir, "a_dog", "1.png", &gradient(8, 4, 0));
    write(&dir.join("b_cat"), "notes.txt", b"not an image");
    write(dir, "readme.txt", b"ignored");
    std::fs::create_dir_all(dir.join(".cache")).expect("mkdir");
}

fn tiny() -> FolderTransform {
    FolderTransform::sized(6, 4, 4)
}

#[test]
fn classes_are_sorted_folders_and_files_sorted_names() {
    let dir = temp();
    sample(dir.path());
    let data = ImageFolder::open(dir.path()).expect("open");
    assert_eq!(data.class_names(), ["a_dog", "b_cat"]);
    let names: Vec<_> = data
        .files()
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["1.png", "2.jpg", "x.PNG", "y.jpeg"]);
    assert_eq!(data.labels(), &[0, 0, 1, 1]);
    assert_eq!((data.len(), data.num_classes(), data.label(3)), (4, 2, 1));
    assert_eq!(*data.transform(), FolderTransform::IMAGENET);
    assert_eq!(data.normalization(), Normalization::IMAGENET);
    assert_eq!(data.decode(3).expect("decode").dimensions(), (12, 9));
}

#[test]
fn evaluation_resizes_the_shorter_side_and_crops_the_centre() {
    let dir = temp();
    sample(dir.path());
    let data = ImageFolder::open(dir.path())
        .expect("open")
        .with_transform(tiny());
    let mut rng = StdRng::seed_from_u64(0);
    let batch = data
        .batch::<Cpu>(&[0, 2], Mode::Eval, &mut rng, &cpu())
        .expect("batch");
    assert_eq!(batch.images.dims(), [2, 3, 4, 4]);
    assert_eq!(targets(&batch), vec![0, 1]);
    let x = pixels(&batch);
    // 8x4 images: the shorter side is already 4, so no resampling; the centre crop starts at
    // column round((8 - 4) / 2) = 2.
    for (n, offset) in [(0, 0.0), (1, 1.0)] {
        for y in 0..4 {
            for col in 0..4 {
                let base = n * 48 + y * 4 + col;
                let want_r = (10.0 * (col + 2) as f32 + offset) / 255.0;
                assert_eq!(x[base], want_r, "R at n {n}, y {y}, x {col}");
                assert_eq!(x[base + 16], (20 * y) as f32 / 255.0);
                assert_eq!(x[base + 32], 7.0 / 255.0);
            }
        }
    }
}

#[test]
fn training_batches_have_the_train_size_and_follow_the_seed() {
    let dir = temp();
    sample(dir.path());
    let data = ImageFolder::open(dir.path())
        .expect("open")
        .with_transform(tiny());
    let run = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let b = data
            .batch::<Cpu>(&[3, 0, 1, 2], Mode::Train, &mut rng, &cpu())
            .expect("batch");
        assert_eq!(b.images.dims(), [4, 3, 6, 6]);
        assert_eq!(targets(&b), vec![1, 0, 0, 1]);
        pixels(&b)
    };
    let a = run(1);
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(a, run(1), "same seed, same batch");
    assert_ne!(a, run(2), "another seed, another batch");
}

#[test]
fn training_without_jitter_or_flip_on_a_full_crop_is_a_plain_resize() {
    let dir = temp();
    save(dir.path(), "only", "a.png", &gradient(8, 8, 0));
    let transform = FolderTransform {
        scale: [1.0, 1.0],
        ratio: [1.0, 1.0],
        horizontal_flip: false,
        color_jitter: None,
        ..FolderTransform::sized(8, 8, 8)
    };
    let data = ImageFolder::open(dir.path())
        .expect("open")
        .with_transform(transform);
    let train = pixels(
        &data
            .batch::<Cpu>(&[0], Mode::Train, &mut StdRng::seed_from_u64(4), &cpu())
            .expect("train"),
    );
    let eval = pixels(
        &data
            .batch::<Cpu>(&[0], Mode::Eval, &mut StdRng::seed_from_u64(4), &cpu())
            .expect("eval"),
    );
    assert_eq!(train, eval);
    assert_eq!(train[7], 70.0 / 255.0);
}

#[test]
fn random_resized_crops_stay_inside_and_respect_scale_and_ratio() {
    let mut rng = StdRng::seed_from_u64(11);
    let (w, h) = (200u32, 120u32);
    for _ in 0..500 {
        let c = random_resized_crop(w, h, [0.08, 1.0], [0.75, 4.0 / 3.0], &mut rng);
        assert!(c.left + c.width <= w && c.top + c.height <= h, "{c:?}");
        let area = f64::from(c.width * c.height) / f64::from(w * h);
        assert!((0.07..=1.0).contains(&area), "{c:?}");
        let ratio = f64::from(c.width) / f64::from(c.height);
        assert!((0.7..=1.4).contains(&ratio), "{c:?}");
    }
}

#[test]
fn random_resized_crop_falls_back_to_a_centre_crop() {
    let mut rng = StdRng::seed_from_u64(0);
    // An area fraction above 1 never fits: after 10 tries the centre crop is used, narrowed
    // to the largest allowed ratio (4/3) for a 100x10 image.
    let wide = random_resized_crop(100, 10, [2.0, 3.0], [0.75, 4.0 / 3.0], &mut rng);
    let want = CropWindow {
        top: 0,
        left: 43,
        height: 10,
        width: 13,
    };
    assert_eq!(wide, want);
    let tall = random_resized_crop(10, 100, [2.0, 3.0], [0.75, 4.0 / 3.0], &mut rng);
    assert_eq!((tall.width, tall.height, tall.top), (10, 13, 43));
    let square = random_resized_crop(30, 30, [2.0, 3.0], [0.75, 4.0 / 3.0], &mut rng);
    assert_eq!(
        (square.width, square.height, square.top, square.left),
        (30, 30, 0, 0)
    );
}

#[test]
fn missing_root_and_file_as_root_are_reported() {
    let dir = temp();
    let gone = dir.path().join("imagenet");
    let err = ImageFolder::open(&gone).expect_err("must fail");
    assert!(
        matches!(&err, DataError::Missing { path, .. } if *path == gone),
        "{err:?}"
    );
    says(&err, &["imagenet does not exist", "root/<class>/<image>"]);
    let file = write(dir.path(), "train.tar", b"x");
    let err = ImageFolder::open(&file).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFolder { .. }), "{err:?}");
    assert!(err.to_string().contains("train.tar"), "{err}");
}

#[test]
fn empty_root_is_reported() {
    let dir = temp();
    write(dir.path(), "readme.txt", b"no classes here");
    let err = ImageFolder::open(dir.path()).expect_err("must fail");
    assert!(matches!(err, DataError::NoClasses { .. }), "{err:?}");
    assert!(err.to_string().contains("holds no class folders"), "{err}");
}

#[test]
fn class_folder_without_images_is_named() {
    let dir = temp();
    sample(dir.path());
    std::fs::create_dir(dir.path().join("c_empty")).expect("mkdir");
    write(&dir.path().join("c_empty"), "labels.csv", b"1,2");
    let err = ImageFolder::open(dir.path()).expect_err("must fail");
    assert!(matches!(err, DataError::EmptyClass { .. }), "{err:?}");
    assert!(err.to_string().contains("c_empty"), "{err}");
}

#[test]
fn an_image_name_that_is_not_a_readable_file_is_refused_at_open() {
    let dir = temp();
    sample(dir.path());
    let folder = dir.path().join("a_dog").join("4.jpg");
    std::fs::create_dir(&folder).expect("mkdir");
    let err = ImageFolder::open(dir.path()).expect_err("must fail");
    assert!(
        matches!(&err, DataError::NotAFile { path } if *path == folder),
        "{err:?}"
    );
    says(&err, &["4.jpg is not a regular file"]);
    std::fs::remove_dir(&folder).expect("rmdir");
    // A nested folder with another name is not an image: left out.
    std::fs::create_dir(dir.path().join("a_dog").join("thumbs")).expect("mkdir");
    assert_eq!(ImageFolder::open(dir.path()).expect("open").len(), 4);
    #[cfg(unix)]
    {
        let link = common::self_link(&dir.path().join("b_cat"), "loop.png");
        let err = ImageFolder::open(dir.path()).expect_err("must fail");
        assert!(
            matches!(&err, DataError::Io { path, .. } if *path == link),
            "{err:?}"
        );
        says(&err, &["cannot read", "loop.png", "symbolic links"]);
    }
}

#[test]
fn a_file_that_is_not_an_image_fails_the_batch_with_its_name() {
    let dir = temp();
    sample(dir.path());
    write(
        &dir.path().join("a_dog"),
        "3.jpg",
        b"this is text, not a JPEG",
    );
    let truncated = {
        let mut bytes = Vec::new();
        let image = image::DynamicImage::ImageRgb8(gradient(16, 16, 0));
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("encode");
        bytes.truncate(bytes.len() / 2);
        bytes
    };
    write(&dir.path().join("b_cat"), "z.png", &truncated);
    let data = ImageFolder::open(dir.path())
        .expect("listing does not decode")
        .with_transform(tiny());
    assert_eq!(data.len(), 6);
    // The text file fails the header check; the half PNG passes it (its header is whole).
    let err = data.check_headers().expect_err("3.jpg is text");
    assert!(
        matches!(&err, DataError::Image { path, .. } if path.ends_with("a_dog/3.jpg")),
        "{err:?}"
    );
    says(&err, &["3.jpg is not a readable JPEG or PNG image", "Jpeg"]);
    let only_png = data.select(&[0, 1, 3, 4, 5]).expect("select");
    only_png.check_headers().expect("every header is whole");
    for (index, name) in [(2, "3.jpg"), (5, "z.png")] {
        for mode in [Mode::Train, Mode::Eval] {
            let mut rng = StdRng::seed_from_u64(0);
            let err = data
                .batch::<Cpu>(&[0, index], mode, &mut rng, &cpu())
                .expect_err("must fail");
            assert!(matches!(err, DataError::Image { .. }), "{err:?}");
            says(&err, &[name, "is not a readable JPEG or PNG image"]);
        }
    }
    let ok = data.batch::<Cpu>(
        &[0, 1, 3],
        Mode::Eval,
        &mut StdRng::seed_from_u64(0),
        &cpu(),
    );
    assert!(ok.is_ok(), "the other images still decode");
}

#[test]
fn a_png_named_jpg_is_decoded_by_its_contents() {
    let dir = temp();
    let folder = dir.path().join("k");
    std::fs::create_dir(&folder).expect("mkdir");
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(gradient(4, 4, 0))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
    write(&folder, "a.jpg", &bytes);
    let data = ImageFolder::open(dir.path()).expect("open");
    assert_eq!(
        data.decode(0).expect("decode").get_pixel(1, 2).0,
        [10, 40, 7]
    );
}
