/** The shared feature suite (test/features/suite.ts) on MemoryStorage: instances share one volume. */
import { MemoryStorage } from '../src/storage/index.js';
import { featureSuite } from './features/suite.js';

featureSuite({
  name: 'MemoryStorage',
  async make() {
    const storage = new MemoryStorage();
    return { storage, other: () => new MemoryStorage({ volume: storage.shared }) };
  },
});
