// Colours of the synthetic scenes: six well-separated hues for the objects that carry an
// appearance label, neutral tones for distractors and the room.

/** An RGB colour with components in [0, 1]. */
export type Rgb = readonly [number, number, number];

/** A named colour. */
export interface NamedColour {
  name: string;
  rgb: Rgb;
}

function rgb255(r: number, g: number, b: number): Rgb {
  return [r / 255, g / 255, b / 255];
}

/** The appearance classes, in index order: hues 60° apart at high saturation. */
export const COLOURS: readonly NamedColour[] = [
  { name: 'red', rgb: rgb255(220, 40, 40) },
  { name: 'yellow', rgb: rgb255(230, 210, 40) },
  { name: 'green', rgb: rgb255(40, 185, 60) },
  { name: 'cyan', rgb: rgb255(40, 200, 215) },
  { name: 'blue', rgb: rgb255(45, 80, 225) },
  { name: 'magenta', rgb: rgb255(210, 55, 200) },
];

/** Unsaturated tones for distractor objects (never an appearance label). */
export const NEUTRALS: readonly NamedColour[] = [
  { name: 'white', rgb: rgb255(215, 215, 210) },
  { name: 'grey', rgb: rgb255(130, 130, 130) },
  { name: 'charcoal', rgb: rgb255(70, 70, 75) },
];

/** Room surfaces: floor checker, walls, ceiling. */
export const ROOM = {
  floorA: rgb255(150, 145, 135),
  floorB: rgb255(105, 100, 95),
  wallA: rgb255(190, 180, 160),
  wallB: rgb255(170, 160, 142),
  ceiling: rgb255(200, 200, 198),
} as const;
