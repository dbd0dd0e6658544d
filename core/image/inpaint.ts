/** Object removal by inpainting, behind a small interface so a learned inpainter can be plugged in. */
import { annToMask, type AnnLike } from "../data/coco.js";
import { EmptyMaskError } from "../data/errors.js";
import { dilateMask } from "../data/mask.js";
import { cvRun, loadCv } from "./cv.js";
import { assertRgb, checkPixels, type RgbImage } from "./io.js";

export interface Inpainter {
  /** A name recorded with every artifact ("telea-r3"). */
  readonly name: string;
  /** Fill the pixels where mask[y*w+x] != 0; returns a new image of the same size. */
  inpaint(img: RgbImage, mask: Uint8Array): Promise<RgbImage>;
}

/** Telea's fast-marching inpainting through OpenCV.js, as cv2.inpaint(img, mask, radius, INPAINT_TELEA). */
export function teleaInpainter({ radius = 3 }: { radius?: number } = {}): Inpainter {
  return {
    name: `telea-r${radius}`,
    async inpaint(img: RgbImage, mask: Uint8Array): Promise<RgbImage> {
      assertRgb(img);
      if (mask.length !== img.width * img.height) {
        throw new EmptyMaskError("inpaint mask", `has ${mask.length} pixels, image has ${img.width}x${img.height}`);
      }
      const item = `${img.width}x${img.height} image`;
      checkPixels(img.width, img.height, item);
      const cv = await loadCv();
      const mats: { delete(): void }[] = [];
      try {
        return cvRun("inpaint", item, () => {
          const src = cv.matFromArray(img.height, img.width, cv.CV_8UC3, img.data);
          mats.push(src);
          const m = new cv.Mat(img.height, img.width, cv.CV_8UC1);
          mats.push(m);
          const dst = new cv.Mat();
          mats.push(dst);
          const md: Uint8Array = m.data;
          for (let i = 0; i < mask.length; i++) md[i] = mask[i] ? 255 : 0;
          cv.inpaint(src, m, dst, radius, cv.INPAINT_TELEA);
          return { data: new Uint8Array(dst.data), width: img.width, height: img.height };
        });
      } finally {
        for (const mat of mats) mat.delete();
      }
    },
  };
}

/**
 * The inpainting mask of an annotation: its segmentation (bbox when it has none) decoded at
 * h×w, checked (bbox inside the image, mask not empty) and dilated by `dilation` px with a
 * square kernel, like cv2.dilate with a (2·dilation+1)² kernel of ones.
 */
export function objectMask(ann: AnnLike, h: number, w: number, dilation = 0): Uint8Array {
  return dilateMask(annToMask(ann, h, w), h, w, dilation);
}
