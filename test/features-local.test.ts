/** The shared feature suite (test/features/suite.ts) on LocalStorage: instances on one directory. */
import { LocalStorage } from '../src/storage/index.js';
import { featureSuite } from './features/suite.js';
import { tempDir } from './helpers/tmp.js';

featureSuite({
  name: 'LocalStorage',
  async make() {
    const dir = await tempDir('cp-features-local-');
    return { storage: new LocalStorage(dir), other: () => new LocalStorage(dir) };
  },
});
